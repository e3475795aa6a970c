"""The fast set's time budget (a pytest plugin, loaded by ``tests/conftest.py``).

A test not marked ``slow`` fails when its set-up and call use more than
``FAST_TEST_CPU_BUDGET_S`` seconds of CPU: this process's and its waited-for children's user +
system time, which the other jobs on a shared machine do not inflate as they do wall-clock time.
``MMDIVERSE_FAST_TEST_BUDGET_S`` overrides it (0 turns the check off). The run ends with the
fast tests that used the most CPU.
"""

import os
import resource
import time

import pytest

FAST_TEST_CPU_BUDGET_S = 10.0
_START = pytest.StashKey[float]()
_used = []


def _cpu_seconds():
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _budget():
    return float(os.environ.get('MMDIVERSE_FAST_TEST_BUDGET_S', FAST_TEST_CPU_BUDGET_S))


def pytest_runtest_setup(item):
    item.stash[_START] = _cpu_seconds()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.when != 'call' or item.get_closest_marker('slow') or _START not in item.stash:
        return
    used = _cpu_seconds() - item.stash[_START]
    report.user_properties.append(('cpu_s', used))
    budget = _budget()
    if budget and used > budget and report.passed:
        report.outcome = 'failed'
        report.longrepr = (
            f'{item.nodeid} used {used:.1f} s of CPU (set-up and call), over the '
            f'{budget:g} s budget of a test not marked slow: make it cheaper or '
            'mark it @pytest.mark.slow (tests/helpers/cpu_budget.py)'
        )


def pytest_runtest_logreport(report):
    for name, value in report.user_properties:
        if name == 'cpu_s':
            _used.append((value, report.nodeid))


def pytest_terminal_summary(terminalreporter):
    if _used:
        terminalreporter.section('CPU of the fast tests (budget: see tests/helpers/cpu_budget.py)')
        for value, nodeid in sorted(_used, reverse=True)[:10]:
            terminalreporter.write_line(f'{value:6.2f} s  {nodeid}')
        total = sum(value for value, _ in _used)
        terminalreporter.write_line(f'{total:6.1f} s  in all, {len(_used)} fast tests')
