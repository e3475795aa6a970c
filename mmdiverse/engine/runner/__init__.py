"""Runner: exact resume with any data loader setting, hook arguments checked at build."""

from .exact_resume_runner import ExactResumeRunner

__all__ = ['ExactResumeRunner']
