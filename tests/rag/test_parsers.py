"""Parsers chosen by content: every format, misleading names, and actionable failures.

Binary fixtures (PDF, docx, zip exports) are built in memory; chat exports are static
samples under tests/rag/samples.
"""

import io
import zipfile
from datetime import datetime
from pathlib import Path

import docx
import pytest
from pypdf import PdfReader, PdfWriter

from orchestrator_service.rag.documents import ParseError, Turn
from orchestrator_service.rag.limits import ParseLimits
from orchestrator_service.rag.parsers import parse

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> bytes:
    """A static chat export from tests/rag/samples."""
    return (SAMPLES / name).read_bytes()


def make_pdf(pages: list[list[str]]) -> bytes:
    """A PDF with one text line per string, Helvetica in WinAnsi (cp1252) encoding."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        None,  # the page tree, once the pages' numbers are known
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    kids = []
    for lines in pages:
        shown = b"".join(b"(" + _pdf_string(line) + b") Tj T* " for line in lines)
        stream = b"BT /F1 11 Tf 14 TL 50 800 Td " + shown + b"ET"
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % len(objects)
        )
        kids.append(b"%d 0 R" % len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(kids))
    return _pdf_file(objects)


def _pdf_string(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return escaped.encode("cp1252")


def _pdf_file(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def encrypt_pdf(pdf: bytes, *, user_password: str, owner_password: str) -> bytes:
    """The same PDF, encrypted with pypdf."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="AES-128")
    return _written(writer)


def blank_pdf() -> bytes:
    """A page without any text, like a scan without OCR."""
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    return _written(writer)


def _written(writer: PdfWriter) -> bytes:
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def make_docx() -> bytes:
    """A Word document with a heading, paragraphs and a table."""
    document = docx.Document()
    document.core_properties.title = "Manual de ventas"
    document.add_heading("Política de devoluciones", level=1)
    document.add_paragraph("Los clientes pueden devolver el producto en 30 días.")
    table = document.add_table(rows=2, cols=2)
    for row, cells in zip(table.rows, [("Producto", "Precio"), ("Café", "4 €")], strict=True):
        for cell, text in zip(row.cells, cells, strict=True):
            cell.text = text
    document.add_paragraph("El reembolso se hace al mismo medio de pago.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_zip(files: dict[str, bytes]) -> bytes:
    """A zip archive holding `files`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def mark_zip_encrypted(data: bytes) -> bytes:
    """Set the "encrypted" flag in a zip's local and central headers, as a password would."""
    marked = bytearray(data)
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        marked[marked.index(signature) + flag_offset] |= 0x1
    return bytes(marked)


def failure(data: bytes, filename: str, limits: ParseLimits | None = None) -> str:
    """The message of the ParseError that parsing `data` raises."""
    with pytest.raises(ParseError) as caught:
        parse(data, filename, limits or ParseLimits())
    return caught.value.message


# PDF ---------------------------------------------------------------------------------------

PDF_PAGES = [
    ["Capítulo uno: la empresa.", "Vendemos café de especialidad (tostado en casa)."],
    ["Capítulo dos: devoluciones.", "El plazo es de 30 días."],
]


def test_a_pdf_is_recognised_by_content_even_named_txt() -> None:
    document = parse(make_pdf(PDF_PAGES), "informe.txt")

    assert document.kind == "pdf"
    assert "Vendemos café de especialidad (tostado en casa)." in document.text
    assert "El plazo es de 30 días." in document.text
    assert document.metadata["pages"] == 2
    second = document.metadata["page_offsets"][1]
    assert document.text[second:].startswith("Capítulo dos")


def test_an_encrypted_pdf_asks_for_an_unprotected_copy() -> None:
    locked = encrypt_pdf(make_pdf(PDF_PAGES), user_password="secreto", owner_password="dueño")

    message = failure(locked, "contrato.pdf")

    assert "password-protected" in message
    assert "unprotected copy" in message


def test_a_pdf_with_only_an_owner_password_is_read() -> None:
    restricted = encrypt_pdf(make_pdf(PDF_PAGES), user_password="", owner_password="dueño")

    assert "El plazo es de 30 días." in parse(restricted, "contrato.pdf").text


def test_a_scanned_pdf_asks_for_ocr() -> None:
    message = failure(blank_pdf(), "escaneo.pdf")

    assert "no text" in message
    assert "OCR" in message


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n" + bytes(range(256)) * 4,
        make_pdf(PDF_PAGES)[:300],
    ],
    ids=["garbage", "truncated"],
)
def test_a_damaged_pdf_says_so(data: bytes) -> None:
    assert "damaged" in failure(data, "roto.pdf")


# Word --------------------------------------------------------------------------------------


def test_a_docx_keeps_paragraphs_and_tables_in_order_even_named_pdf() -> None:
    document = parse(make_docx(), "manual.pdf")

    assert document.kind == "docx"
    assert document.text.split("\n\n") == [
        "Política de devoluciones",
        "Los clientes pueden devolver el producto en 30 días.",
        "Producto | Precio\nCafé | 4 €",
        "El reembolso se hace al mismo medio de pago.",
    ]
    assert document.metadata == {"paragraphs": 3, "tables": 1, "title": "Manual de ventas"}


@pytest.mark.parametrize(
    "data",
    [
        make_zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"no es xml"}),
        make_docx()[:2000],
    ],
    ids=["bad-xml", "truncated"],
)
def test_a_damaged_docx_says_so(data: bytes) -> None:
    assert "damaged" in failure(data, "manual.docx")


def test_a_legacy_or_encrypted_office_file_asks_for_an_unprotected_docx() -> None:
    ole2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)

    message = failure(ole2, "viejo.doc")

    assert "legacy Office" in message
    assert "unprotected .docx" in message


# WhatsApp ----------------------------------------------------------------------------------


def test_an_android_12h_export_named_notes_is_a_chat() -> None:
    document = parse(sample("android_12h.txt"), "notes.txt")

    assert document.kind == "whatsapp"
    assert document.metadata["date_order"] == "mdy"
    assert document.metadata["platform"] == "android"
    assert document.metadata["participants"] == ["Ana", "Juan"]
    first, *_, last = document.turns
    assert first.text == "hola Juan, ¿vienes a la cena de fin de año?"
    assert first.timestamp == datetime(2023, 12, 31, 21, 15)  # "9:15\u202fPM"
    assert last.timestamp == datetime(2024, 1, 1, 0, 7)  # "12:07\u202fAM"
    multiline = document.turns[3]
    assert multiline.text == "A las diez.\nTrae también hielo,\ny las copas de cristal."
    # The encryption notice and the deleted message are gone; two media turns remain.
    assert len(document.turns) == 9
    assert [turn.media for turn in document.turns].count(True) == 2
    assert all(turn.text == "" for turn in document.turns if turn.media)


def test_an_android_24h_day_first_export_with_crlf() -> None:
    document = parse(sample("android_24h_dayfirst.txt"), "chat.txt")

    assert document.metadata["date_order"] == "dmy"
    assert document.metadata["participants"] == ["Ana", "Luis", "Juan"]
    texts = [(turn.author, turn.text) for turn in document.turns]
    assert texts == [
        ("Ana", "hola a todos"),
        ("Luis", "¿Quién trae el vino?"),
        ("Juan", "Yo llevo el vino\ny también el pan."),
        ("Luis", ""),  # <Multimedia omitido>
        ("Juan", "Genial"),  # "<Se editó este mensaje.>" removed
        ("Luis", "¡Feliz año!"),
        ("Juan", "¡Igualmente, Luis!"),  # "Se eliminó este mensaje" skipped
    ]
    assert document.turns[3].media
    assert document.turns[-1].timestamp == datetime(2024, 1, 1, 0, 3)


def test_an_ios_export_with_brackets_bom_and_direction_marks() -> None:
    document = parse(sample("ios_brackets.txt"), "_chat.txt")

    assert document.metadata["platform"] == "ios"
    assert document.metadata["participants"] == ["Ana", "Juan"]  # not the group's notice
    assert document.metadata["media"] == 3
    assert document.turns[0].timestamp == datetime(2023, 12, 31, 21, 15, 7)
    recipe = "Bien, preparando la cena.\nLa receta lleva:\n- arroz\n- gambas"
    assert document.turns[2].text == recipe
    assert [turn.media for turn in document.turns[3:5]] == [True, True]
    assert not any("eliminó" in turn.text or "cifrados" in turn.text for turn in document.turns)


def test_an_ios_12h_month_first_export() -> None:
    chat = (
        "[12/31/23, 9:15:07\u202fPM] Ana: hola\n"
        "[12/31/23, 9:16:00\u202fPM] Juan: \u200eimage omitted\n"
        "[1/1/24, 12:00:30\u202fAM] Juan: ¡Feliz año!\n"
        "\u200e[1/1/24, 12:01:00\u202fAM] Ana: nos vemos \u200e<This message was edited>\n"
    )

    document = parse(chat.encode(), "chat.txt")

    assert document.metadata["date_order"] == "mdy"
    assert [turn.timestamp for turn in document.turns] == [
        datetime(2023, 12, 31, 21, 15, 7),
        datetime(2023, 12, 31, 21, 16),
        datetime(2024, 1, 1, 0, 0, 30),
        datetime(2024, 1, 1, 0, 1),
    ]
    assert document.turns[1].media
    assert document.turns[3].text == "nos vemos"


def test_spanish_12h_clock_and_captioned_media() -> None:
    chat = (
        "31/12/23, 9:15 p.\u00a0m. - Ana: hola\n"
        "31/12/23, 9:16 p.\u00a0m. - Ana: IMG-20231231-WA0001.jpg (archivo adjunto)\nMira esto\n"
    )

    document = parse(chat.encode(), "chat.txt")

    assert document.turns[0].timestamp == datetime(2023, 12, 31, 21, 15)
    assert document.turns[1] == Turn("Ana", "Mira esto", datetime(2023, 12, 31, 21, 16), media=True)


def test_ambiguous_dates_follow_the_chronological_order() -> None:
    # Day-first would read May 1, Mar 2, Jan 3: backwards. Month-first reads forwards.
    chat = "01/05/24, 10:00 - Ana: uno\n02/03/24, 10:00 - Juan: dos\n03/01/24, 10:00 - Ana: tres\n"

    document = parse(chat.encode(), "chat.txt")

    assert document.metadata["date_order"] == "mdy"
    assert document.turns[1].timestamp == datetime(2024, 2, 3, 10, 0)


@pytest.mark.parametrize(
    ("member", "chat", "filename"),
    [
        ("_chat.txt", "ios_brackets.txt", "notas.pdf"),
        ("WhatsApp Chat with Ana.txt", "android_12h.txt", "export.zip"),
        ("Chat de WhatsApp con Luis.txt", "android_24h_dayfirst.txt", "chat.docx"),
    ],
)
def test_a_zip_export_is_a_chat_whatever_its_name(member: str, chat: str, filename: str) -> None:
    data = make_zip({member: sample(chat), "00000012-PHOTO-2023-12-31.jpg": b"\xff\xd8\xff"})

    document = parse(data, filename)

    assert document.kind == "whatsapp"
    assert document.metadata["chat_file"] == member
    assert document.turns


def test_a_zip_that_is_neither_docx_nor_chat_is_refused() -> None:
    message = failure(make_zip({"foto.jpg": b"\xff\xd8\xff"}), "fotos.zip")

    assert "neither a Word document nor a WhatsApp chat" in message


def test_a_zip_whose_text_is_not_a_chat_is_refused() -> None:
    message = failure(make_zip({"leeme.txt": b"Hola, esto no es un chat."}), "cosas.zip")

    assert "not a WhatsApp chat export" in message


def test_a_password_protected_zip_asks_for_an_unprotected_export() -> None:
    locked = mark_zip_encrypted(make_zip({"_chat.txt": sample("ios_brackets.txt")}))

    assert "password-protected" in failure(locked, "chat.zip")


def test_a_damaged_zip_says_so() -> None:
    broken = make_zip({"_chat.txt": sample("ios_brackets.txt")})[:-30]

    assert "damaged" in failure(broken, "chat.zip")


def test_timestamped_lines_without_authors_are_a_log_not_a_chat() -> None:
    log = "2023-12-31 21:15 - servidor arrancado\n2023-12-31 21:16 - copia hecha\n"

    assert parse(log.encode(), "registro.txt").kind == "txt"


# Text formats ------------------------------------------------------------------------------

HTML = """<!DOCTYPE html>
<html><head><title>Horario &amp; tienda</title>
<style>body { color: red; }</style>
<script>var secreto = "no indexar";</script></head>
<body><h1>Bienvenidos</h1><p>Abrimos de <b>9</b> a 18&nbsp;h.</p>
<ul><li>Lunes</li><li>Martes</li></ul><noscript>Activa JavaScript</noscript></body></html>
"""


def test_html_is_recognised_by_markup_and_keeps_only_visible_text() -> None:
    document = parse(HTML.encode(), "pagina.txt")

    assert document.kind == "html"
    assert document.metadata["title"] == "Horario & tienda"
    assert "Abrimos de 9 a 18 h." in document.text
    assert "Lunes\nMartes" in document.text
    for hidden in ("secreto", "color: red", "JavaScript", "<"):
        assert hidden not in document.text


def test_an_html_page_without_visible_text_is_refused() -> None:
    page = b"<html><body><script>x()</script></body></html>"

    assert "no visible text" in failure(page, "vacia.html")


def test_csv_is_recognised_by_content_and_rendered_as_header_value_lines() -> None:
    table = 'nombre,ciudad,pedido\nAna,Madrid,café\nJuan,,té verde\nLuis,Sevilla,"mate, frío"\n'

    document = parse(table.encode(), "datos.txt")

    assert document.kind == "csv"
    assert document.text.split("\n\n") == [
        "nombre: Ana\nciudad: Madrid\npedido: café",
        "nombre: Juan\npedido: té verde",
        "nombre: Luis\nciudad: Sevilla\npedido: mate, frío",
    ]
    assert document.metadata == {
        "columns": ["nombre", "ciudad", "pedido"],
        "rows": 3,
        "delimiter": ",",
        "encoding": "utf-8",
    }


def test_a_semicolon_csv_from_a_spanish_excel_in_cp1252() -> None:
    table = "producto;precio\nCafé;4 €\nTé;3 €\n".encode("cp1252")

    document = parse(table, "precios.csv")

    assert document.kind == "csv"
    assert "producto: Café\nprecio: 4 €" in document.text
    assert document.metadata["encoding"] == "cp1252"


def test_prose_with_commas_is_not_a_csv() -> None:
    prose = "Hola, ¿qué tal?\nBien, gracias.\nPues nada, aquí estamos, trabajando.\n"

    assert parse(prose.encode(), "carta.txt").kind == "txt"


def test_markdown_by_markers_or_by_extension() -> None:
    text = "# Guía\n\nLee la [documentación](https://example.com) y **sigue** los pasos.\n"

    assert parse(text.encode(), "guia.txt").kind == "md"
    assert parse(b"Solo texto, sin marcas.", "nota.md").kind == "md"
    assert parse(b"Solo texto, sin marcas.", "nota.txt").kind == "txt"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("Año nuevo, vida nueva.".encode(), "utf-8"),
        ("Año nuevo, vida nueva.".encode("utf-8-sig"), "utf-8"),
        ("Año nuevo, vida nueva.".encode("utf-16"), "utf-16"),
        ("Año nuevo, vida nueva.".encode("latin-1"), "cp1252"),
        (b"A\xf1o nuevo, vida nueva.\x81", "latin-1"),  # 0x81 is undefined in cp1252
    ],
)
def test_text_encodings(data: bytes, encoding: str) -> None:
    document = parse(data, "nota.txt")

    assert document.kind == "txt"
    assert document.text.startswith("Año nuevo, vida nueva.")
    assert document.metadata["encoding"] == encoding


@pytest.mark.parametrize("data", [b"", b"   \n\t\r\n", b"\xef\xbb\xbf", "  ".encode("utf-16")])
def test_an_empty_file_is_refused(data: bytes) -> None:
    assert "empty" in failure(data, "vacio.txt")


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "PNG (image/png)"),
        (b"MZ\x90\x00\x03\x00\x00\x00" + bytes(100), "EXE"),
        (bytes(range(256)) * 8, "unknown type"),
    ],
)
def test_an_unsupported_binary_names_its_type_and_the_supported_ones(
    data: bytes, named: str
) -> None:
    message = failure(data, "documento.pdf")

    assert named in message
    assert "Supported: PDF, Word (.docx)" in message


def test_text_that_starts_like_a_binary_signature_is_still_text() -> None:
    # "BM" is the BMP signature and "MZ" the EXE one for `filetype`.
    assert parse(b"BMW fabrica coches en Munich.", "nota.txt").kind == "txt"
    assert parse(b"MZ Ventures invierte en startups.", "nota.txt").kind == "txt"


# Limits: every cap, with the error it produces -------------------------------------------

ADVICE = "Split it into smaller files and upload those."


def test_a_zip_that_expands_past_the_limit_is_refused_unread() -> None:
    bomb = make_zip({"a.txt": b"a" * (3 << 20)})

    message = failure(bomb, "bomb.zip", ParseLimits(max_expanded_mb=2))

    assert message == (
        f"The zip archive expands to more than 2 MiB (limit ORCH_INGEST_MAX_EXPANDED_MB). {ADVICE}"
    )


def test_a_zip_member_larger_than_it_declares_is_damaged_not_expanded() -> None:
    data = bytearray(make_zip({"_chat.txt": sample("android_12h.txt") * 200}))
    declared = len(sample("android_12h.txt"))
    # zipfile reads a member up to its declared size only, so declared sizes bound expansion.
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.index(signature) + offset
        data[at : at + 4] = declared.to_bytes(4, "little")

    assert "damaged" in failure(bytes(data), "chat.zip", ParseLimits(max_expanded_mb=1))


def test_a_word_document_with_a_huge_body_is_refused_unread() -> None:
    document = docx.Document()
    document.add_paragraph("palabra " * 200_000)
    buffer = io.BytesIO()
    document.save(buffer)

    message = failure(buffer.getvalue(), "big.docx", ParseLimits(max_docx_xml_mb=1))

    assert message == (
        "The Word document's text and markup (word/document.xml) take more than 1 MiB "
        f"(limit ORCH_INGEST_MAX_DOCX_XML_MB). {ADVICE}"
    )


def test_a_pdf_with_too_many_pages_is_refused_before_reading_them() -> None:
    pdf = make_pdf([["page"]] * 5)

    assert parse(pdf, "a.pdf", ParseLimits(max_pages=5)).metadata["pages"] == 5
    assert failure(pdf, "a.pdf", ParseLimits(max_pages=4)) == (
        f"The PDF has more than 4 pages (limit ORCH_INGEST_MAX_PAGES). {ADVICE}"
    )


@pytest.mark.parametrize(
    ("data", "filename", "what"),
    [
        (b"a" * 101, "notes.txt", "The file has"),
        (make_pdf([["a" * 60], ["b" * 60]]), "a.pdf", "The PDF has"),
        (make_docx(), "a.docx", "The Word document has"),
        (make_zip({"_chat.txt": sample("android_12h.txt")}), "chat.zip", "The chat export has"),
        (make_zip({"_chat.txt": b"x" * 500}), "chat.zip", "The chat export has"),  # > 4 x 100
    ],
)
def test_text_past_the_character_limit_is_refused(data: bytes, filename: str, what: str) -> None:
    message = failure(data, filename, ParseLimits(max_characters=100))

    assert message == (
        f"{what} more than 100 characters (limit ORCH_INGEST_MAX_CHARACTERS). {ADVICE}"
    )


def test_a_chat_with_too_many_messages_is_refused() -> None:
    chat = sample("android_24h_dayfirst.txt")
    stamped = sum(1 for line in chat.decode().splitlines() if line[:1].isdigit())

    assert parse(chat, "chat.txt", ParseLimits(max_chat_messages=stamped)).turns
    assert failure(chat, "chat.txt", ParseLimits(max_chat_messages=stamped - 1)) == (
        f"The chat export has more than {stamped - 1} messages "
        f"(limit ORCH_INGEST_MAX_CHAT_MESSAGES). {ADVICE}"
    )
