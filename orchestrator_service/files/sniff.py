"""A file's type from its first bytes (the client's Content-Type is not trusted)."""

import filetype

HEAD_BYTES = 8192
OCTET_STREAM = "application/octet-stream"


def sniff(head: bytes) -> str:
    """The MIME type of a file whose first bytes are `head`: a known signature, else
    `text/plain` for UTF-8 text, else `application/octet-stream`."""
    guess = filetype.guess(head)
    if guess is not None:
        return guess.mime
    if not head:
        return OCTET_STREAM
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the head is still text.
        if exc.start < len(head) - 3:
            return OCTET_STREAM
    return "text/plain" if b"\x00" not in head else OCTET_STREAM
