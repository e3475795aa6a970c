# Settings every configs/pretrain/*.py adds to mmpretrain's runtime.
custom_imports = dict(imports=['mmdiverse'], allow_failed_imports=False)
