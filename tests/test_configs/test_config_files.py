"""Configs are data: no code imported or defined, a short header that names the
recipe's source and links docs/fidelity.md, and docs that name only paths that exist."""

import ast
import glob
import os.path as osp
import re

import pytest

from tests.helpers.tools import REPO_ROOT

CONFIG_FILES = sorted(
    osp.relpath(p, REPO_ROOT)
    for p in glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
)
TOP_LEVEL = [p for p in CONFIG_FILES if '_base_' not in p.split(osp.sep)]
#: What a header says to name where its recipe comes from.
SOURCES = ("this project's design", 'github:', "mmseg's published", "mmpretrain's")  # lower case
CITATION = re.compile(r'et al\.,? (19|20)\d\d')
MAX_HEADER_LINES = 5
MAX_COMMENT_LINES = 10  # the header's included


def _lines(path):
    return open(osp.join(REPO_ROOT, path)).read().splitlines()


def _header(path):
    lines = _lines(path)
    n = next((i for i, line in enumerate(lines) if not line.startswith('#')), len(lines))
    return lines[:n], lines[n:]


def test_the_configs_are_found():
    assert len(TOP_LEVEL) >= 34 and 'configs/seg/upernet_swin_l_ade20k.py' in TOP_LEVEL


@pytest.mark.parametrize('path', CONFIG_FILES)
def test_config_imports_and_defines_no_code(path):
    tree = ast.parse(open(osp.join(REPO_ROOT, path)).read(), path)
    code = [
        f'line {node.lineno}: {type(node).__name__}'
        for node in ast.walk(tree)
        if isinstance(
            node,
            (
                ast.Import,
                ast.ImportFrom,
                ast.FunctionDef,
                ast.Lambda,
                ast.ClassDef,
                ast.AsyncFunctionDef,
            ),
        )
    ]
    assert not code, f'{path}: configs are data, found {code}'


@pytest.mark.parametrize('path', CONFIG_FILES)
def test_config_header_is_short_and_comments_are_few(path):
    header, body = _header(path)
    assert 1 <= len(header) <= MAX_HEADER_LINES, f'{path}: header of {len(header)} lines'
    comments = [line for line in body if line.lstrip().startswith('#')]
    assert len(header) + len(comments) <= MAX_COMMENT_LINES, (
        f'{path}: provenance goes to docs/, found {comments}'
    )
    long_lines = [
        i + 1
        for i, line in enumerate(header + body)
        if len(line) > 100 and 'noqa: E501' not in line
    ]
    assert not long_lines, f'{path}: lines over 100 columns: {long_lines}'


@pytest.mark.parametrize('path', TOP_LEVEL)
def test_config_header_names_its_source_and_links_fidelity(path):
    text = ' '.join(' '.join(line.lstrip('# ') for line in _header(path)[0]).split())
    assert 'docs/fidelity.md' in text, f'{path}: the header must link docs/fidelity.md'
    assert any(source in text.lower() for source in SOURCES) or CITATION.search(text), (
        f'{path}: the header must name its published source or say "this project\'s design"'
    )


DOCS = ['README.md'] + sorted(
    osp.relpath(p, REPO_ROOT) for p in glob.glob(osp.join(REPO_ROOT, 'docs', '*.md'))
)
#: A repository path as the docs write it, with the character after it (a wildcard,
#: brace or placeholder there makes it a pattern, not a path).
REPO_PATH = re.compile(r'(?<![\w/.-])((?:configs|mmdiverse|tools|tests)/[\w/.-]*[\w/])(.?)')
#: Directories that tools create (git-ignored), named by the docs.
CREATED = {'tools/benchmarks/wheels/'}


@pytest.mark.parametrize('doc', DOCS)
def test_every_path_the_docs_name_exists(doc):
    text = open(osp.join(REPO_ROOT, doc)).read()
    named = {path for path, after in REPO_PATH.findall(text) if after not in '*{<'}
    missing = sorted(p for p in named - CREATED if not osp.exists(osp.join(REPO_ROOT, p)))
    assert not missing, f'{doc} names paths that do not exist: {missing}'


@pytest.mark.parametrize('doc', DOCS)
def test_every_relative_link_of_the_docs_resolves(doc):
    text = open(osp.join(REPO_ROOT, doc)).read()
    links = {
        target.split('#')[0]
        for target in re.findall(r'\]\(([^)\s]+)\)', text)
        if not re.match(r'\w+:', target)
    }
    here = osp.dirname(osp.join(REPO_ROOT, doc))
    broken = sorted(link for link in links if link and not osp.exists(osp.join(here, link)))
    assert not broken, f'{doc} links to files that do not exist: {broken}'
