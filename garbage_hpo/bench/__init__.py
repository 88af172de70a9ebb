"""`python -m garbage_hpo.bench` (`make bench`): measures this machine; see __main__.py."""

__all__: list[str] = []
