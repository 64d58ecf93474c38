"""One TLS context for every Billit client of a process.

httpx makes a context per client: certifi's bundle read and parsed, about 30 ms and 0.8 MiB each. A sync makes a
client per stream and company, so they share one, made on first use (an OpenSSL context is safe to share between
threads and event loops). SSL_CERT_FILE and SSL_CERT_DIR are read then, once per process. No ALPN protocol is
offered (`connectors.billit.transport` speaks HTTP/1.1, a server's default without ALPN); behind a proxy httpx's own
transport sets HTTP/1.1 on each connection.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def shared_tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()
