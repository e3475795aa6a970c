"""Installs mmdiverse. The pinned OpenMMLab stack is installed by
``tools/install/setup_env.sh`` (``make setup``).

mmcv is not in ``install_requires``: either distribution works, and pip cannot
express "one of". ``pip install mmdiverse[lite]`` takes the pure-Python
``mmcv-lite`` (compiled ops replaced by ``mmdiverse.compat.mmcv_ext_standin``),
``pip install mmdiverse[full]`` the compiled ``mmcv`` (which has no wheel for
torch 2.14: see ``tools/install/build_mmcv_wheel.sh``)."""

from setuptools import find_packages, setup


def read_version():
    namespace = {}
    with open('mmdiverse/version.py') as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='mmdiverse',
    version=read_version(),
    description='Patch-diversity regularizers for vision transformers in '
    'mmpretrain, and their transfer to segmentation in mmsegmentation',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    packages=find_packages(include=['mmdiverse', 'mmdiverse.*']),
    python_requires='>=3.9',
    install_requires=[
        'mmengine==0.10.7',
        'mmpretrain==1.2.0',
        'mmsegmentation==1.2.2',
        'timm',
    ],
    extras_require={
        'lite': ['mmcv-lite==2.1.0'],
        'full': ['mmcv==2.1.0'],
    },
    zip_safe=False,
)
