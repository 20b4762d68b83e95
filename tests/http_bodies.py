"""Chunked request bodies with broken framing, shared by the unit tests of the API worker's
body reader and the live bad-input tests: each must be refused without storing a byte."""

BROKEN_CHUNKED_FRAMINGS = [
    b"zz\r\nabc\r\n0\r\n\r\n",  # a chunk size that is not hex
    b"5\r\nabc",  # the body ends inside a chunk
    b"3\r\nabcdef\r\n0\r\n\r\n",  # a chunk longer than its size
    b"-3\r\nabc\r\n0\r\n\r\n",  # a negative chunk size
    b"\r\nabc\r\n0\r\n\r\n",  # no chunk size
    b"3;ext\rx\r\nabc\r\n0\r\n\r\n",  # a bare CR in an extension
    b"3\r\nabc\r\n",  # no last chunk
    b"3\r\nabc\r\n0\r\nX-Trailer: 1\r\n",  # the trailer section never ends
]
