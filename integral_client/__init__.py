"""Python client of the INTEGRAL ODA service.

>>> from integral_client import Client                                  # doctest: +SKIP
>>> product = Client("http://127.0.0.1:8050").get_product(
...     src_name="Crab", T1="2003-03-15", T2="2003-04-15", max_pointings=4)  # doctest: +SKIP
>>> product.table()                                                     # doctest: +SKIP

Submit/wait with a per-ScW progress bar, retries with backoff on connection errors and 5xx,
errors carrying the server's ``field``/``allowed`` (:class:`RequestError`), results as
astropy ``HDUList``/``Table``/``Quantity``, ``Product.save(dir)``.
"""

#: PEP 440 version. The epoch ("1!") ranks it above every release of the unrelated
#: ``integral-client`` on PyPI, so ``pip install --find-links <server>/client/ integral-client``
#: takes the server's wheel and never the index's namesake.
__version__ = "1!1.0.0"

from .client import (AuthError, Client, ClientError, JobCancelled, JobFailed, NotFound, Product, RequestError,
                     ServerError, TimeoutError_)

__all__ = ["__version__", "Client", "Product", "ClientError", "RequestError", "AuthError", "NotFound", "ServerError",
           "JobFailed", "JobCancelled", "TimeoutError_"]
