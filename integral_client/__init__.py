"""Python client of the INTEGRAL ODA service.

>>> from integral_client import Client                                  # doctest: +SKIP
>>> product = Client("http://127.0.0.1:8050").get_product(
...     src_name="Crab", T1="2003-03-15", T2="2003-04-15", max_pointings=4)  # doctest: +SKIP
>>> product.table()                                                     # doctest: +SKIP

Submit/wait with a per-ScW progress bar, retries with backoff on connection errors and 5xx,
errors carrying the server's ``field``/``allowed`` (:class:`RequestError`), results as
astropy ``HDUList``/``Table``/``Quantity``, ``Product.save(dir)``.
"""

from .client import (AuthError, Client, ClientError, JobCancelled, JobFailed, NotFound, Product, RequestError,
                     ServerError, TimeoutError_)

__all__ = ["Client", "Product", "ClientError", "RequestError", "AuthError", "NotFound", "ServerError",
           "JobFailed", "JobCancelled", "TimeoutError_"]
