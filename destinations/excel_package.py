"""Replace one worksheet of an .xlsx package and copy every other part unchanged.

An .xlsx file is a zip of XML parts. To rewrite one sheet while keeping the others exactly as they
are (formatting, formulas, charts, pivot tables, images: things openpyxl drops or cannot even read),
the new package is the old one, part by part, with only these changes:

* the target sheet's part is streamed anew by ``excel_sheet.write_sheet`` (or added, with its
  entry in ``workbook.xml``, the workbook relationships and ``[Content_Types].xml``);
* ``styles.xml`` gains (or reuses) the few cell styles the sheet needs: a bold header and one per
  number format, so the style ids of the other sheets stay valid;
* the parts hanging off the old target sheet (drawings, tables, comments...) are dropped with it;
* ``calcChain.xml`` is dropped and the workbook is marked for a full recalculation on load, because
  formulas elsewhere may read the rewritten sheet;
* the hidden ``_xlnm._FilterDatabase`` name that Excel pairs with an autofilter is set.

Every part is streamed from zip to zip, so memory stays small whatever the size of the other sheets.
A new workbook starts from a one-sheet skeleton made by openpyxl and goes through the same path.
"""

from __future__ import annotations

import io
import posixpath
import re
import shutil
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import openpyxl
from lxml import etree

from .base import DestinationConfigError

NS = {
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "pr": "http://schemas.openxmlformats.org/package/2006/relationships",
    "ct": "http://schemas.openxmlformats.org/package/2006/content-types",
}
REL_WORKSHEET = f"{NS['r']}/worksheet"
REL_CALC_CHAIN = f"{NS['r']}/calcChain"
REL_STYLES = f"{NS['r']}/styles"
REL_OFFICE_DOCUMENT = f"{NS['r']}/officeDocument"
CT_WORKSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
FILTER_NAME = "_xlnm._FilterDatabase"
_DIMENSION = re.compile(r'<(?:\w+:)?dimension ref="[A-Z]+\d+(?::[A-Z]+(\d+))?"')
# Elements that may sit between <sheets> and <definedNames> in CT_Workbook, in schema order.
_BEFORE_DEFINED_NAMES = ("sheets", "functionGroups", "externalReferences")


def _m(tag: str) -> str:
    return f"{{{NS['m']}}}{tag}"


def _parse(data: bytes) -> etree._Element:
    return etree.fromstring(data, etree.XMLParser(resolve_entities=False, huge_tree=True))


def _dump(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _rels_path(part: str) -> str:
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", name + ".rels")


def _resolve(source_part: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(source_part), target))


def skeleton(sheet: str) -> bytes:
    """A valid one-sheet workbook to start a new file from."""
    wb = openpyxl.Workbook()
    wb.active.title = sheet  # type: ignore[union-attr]
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def quote_sheet(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


class _Styles:
    """Find-or-add the cell formats the data sheet needs, so repeated writes do not pile up styles."""

    def __init__(self, root: etree._Element) -> None:
        self.root = root

    def _section(self, tag: str, index: int) -> etree._Element:
        found = self.root.find(_m(tag))
        if found is None:
            found = etree.Element(_m(tag))
            self.root.insert(index, found)
        return found

    @staticmethod
    def _count(section: etree._Element) -> None:
        section.set("count", str(len(section)))

    def num_fmt_id(self, code: str) -> int:
        fmts = self._section("numFmts", 0)
        for fmt in fmts:
            if fmt.get("formatCode") == code:
                return int(fmt.get("numFmtId", "0"))
        new_id = max([163, *(int(f.get("numFmtId", "0")) for f in fmts)]) + 1  # custom ids start at 164
        etree.SubElement(fmts, _m("numFmt"), numFmtId=str(new_id), formatCode=code)
        self._count(fmts)
        return new_id

    def bold_font_id(self) -> int:
        fonts = self.root.find(_m("fonts"))
        if fonts is None or len(fonts) == 0:
            raise DestinationConfigError("the workbook's styles.xml has no fonts; it looks damaged")
        bold = etree.fromstring(etree.tostring(fonts[0]))
        if bold.find(_m("b")) is None:
            bold.insert(0, etree.Element(_m("b")))
        wanted = etree.tostring(bold)
        for i, font in enumerate(fonts):
            if etree.tostring(font) == wanted:
                return i
        fonts.append(bold)
        self._count(fonts)
        return len(fonts) - 1

    def xf(self, num_fmt_id: int, font_id: int = 0) -> int:
        xfs = self.root.find(_m("cellXfs"))
        if xfs is None:
            raise DestinationConfigError("the workbook's styles.xml has no cell formats; it looks damaged")
        attrs = {
            "numFmtId": str(num_fmt_id),
            "fontId": str(font_id),
            "fillId": "0",
            "borderId": "0",
            "xfId": "0",
        }
        for i, xf in enumerate(xfs):
            if len(xf) == 0 and all(xf.get(k, "0") == v for k, v in attrs.items()):
                return i
        new = etree.SubElement(xfs, _m("xf"), **attrs)
        if num_fmt_id:
            new.set("applyNumberFormat", "1")
        if font_id:
            new.set("applyFont", "1")
        self._count(xfs)
        return len(xfs) - 1


class Package:
    """The parts of an existing workbook that a sheet replacement edits."""

    def __init__(self, zin: zipfile.ZipFile) -> None:
        self.zin = zin
        self.names = set(zin.namelist())
        root_rels = _parse(zin.read("_rels/.rels"))
        target = next(r.get("Target") for r in root_rels if r.get("Type") == REL_OFFICE_DOCUMENT)
        self.workbook_part = _resolve("", target or "xl/workbook.xml")
        self.workbook = _parse(zin.read(self.workbook_part))
        self.rels_part = _rels_path(self.workbook_part)
        self.rels = _parse(zin.read(self.rels_part))
        self.types = _parse(zin.read("[Content_Types].xml"))
        styles_rel = next((r for r in self.rels if r.get("Type") == REL_STYLES), None)
        if styles_rel is None:
            raise DestinationConfigError("the workbook has no styles part; it looks damaged")
        self.styles_part = _resolve(self.workbook_part, styles_rel.get("Target", ""))
        self.styles = _parse(zin.read(self.styles_part))
        self.dropped: set[str] = set()

    # -- sheets ------------------------------------------------------------------------------
    def _sheets(self) -> etree._Element:
        sheets = self.workbook.find(_m("sheets"))
        if sheets is None:
            raise DestinationConfigError("the workbook has no <sheets>; it looks damaged")
        return sheets

    def sheet_part(self, name: str) -> tuple[str, int]:
        """The part name and position of sheet ``name``, adding an empty sheet entry if it is missing."""
        sheets = self._sheets()
        for position, sheet in enumerate(sheets):
            if sheet.get("name", "").casefold() == name.casefold():  # Excel compares names case-blind
                sheet.set("name", name)
                rid = sheet.get(f"{{{NS['r']}}}id")
                rel = next((r for r in self.rels if r.get("Id") == rid), None)
                if rel is None or rel.get("Type") != REL_WORKSHEET:
                    raise DestinationConfigError(
                        f"sheet {name!r} is not a worksheet (a chart sheet?); pick another name"
                    )
                return _resolve(self.workbook_part, rel.get("Target", "")), position
        n = 1
        while f"xl/worksheets/sheet{n}.xml" in self.names:
            n += 1
        part = f"xl/worksheets/sheet{n}.xml"
        rid = "rId1"
        taken = {r.get("Id") for r in self.rels}
        k = 1
        while rid in taken:
            k += 1
            rid = f"rId{k}"
        etree.SubElement(
            self.rels, f"{{{NS['pr']}}}Relationship", Id=rid, Type=REL_WORKSHEET, Target="/" + part
        )
        sheet_id = max([0, *(int(s.get("sheetId", "0")) for s in sheets)]) + 1
        entry = etree.SubElement(sheets, _m("sheet"), name=name, sheetId=str(sheet_id))
        entry.set(f"{{{NS['r']}}}id", rid)
        etree.SubElement(self.types, f"{{{NS['ct']}}}Override", PartName="/" + part, ContentType=CT_WORKSHEET)
        return part, len(sheets) - 1

    def drop_sheet_dependents(self, part: str) -> None:
        """Drop the parts only the old sheet used (its drawings, tables, comments...)."""
        rels_part = _rels_path(part)
        if rels_part not in self.names:
            return
        self.dropped.add(rels_part)
        candidates = {
            _resolve(part, r.get("Target", ""))
            for r in _parse(self.zin.read(rels_part))
            if r.get("TargetMode") != "External"
        }
        # A part another sheet or drawing still points at (a shared image) must stay.
        for other in self.names - {rels_part}:
            if other.endswith(".rels") and other not in self.dropped:
                owner = posixpath.join(
                    posixpath.dirname(posixpath.dirname(other)), posixpath.basename(other)[:-5]
                )
                for r in _parse(self.zin.read(other)):
                    candidates.discard(_resolve(owner, r.get("Target", "")))
        for dead in candidates & self.names:
            self.dropped.add(dead)
            if _rels_path(dead) in self.names:
                self.dropped.add(_rels_path(dead))

    def drop_calc_chain(self) -> None:
        for rel in list(self.rels):
            if rel.get("Type") == REL_CALC_CHAIN:
                self.dropped.add(_resolve(self.workbook_part, rel.get("Target", "")))
                self.rels.remove(rel)
        calc = self.workbook.find(_m("calcPr"))
        if calc is None:
            calc = etree.Element(_m("calcPr"))
            self._insert_after(calc, ("definedNames", *_BEFORE_DEFINED_NAMES))
        calc.set("fullCalcOnLoad", "1")

    def _insert_after(self, element: etree._Element, predecessors: tuple[str, ...]) -> None:
        children = list(self.workbook)
        index = max(
            (i for i, c in enumerate(children) if etree.QName(c).localname in predecessors), default=-1
        )
        self.workbook.insert(index + 1, element)

    def set_filter_name(self, sheet: str, position: int, ref: str | None) -> None:
        names = self.workbook.find(_m("definedNames"))
        if names is None:
            if ref is None:
                return
            names = etree.Element(_m("definedNames"))
            self._insert_after(names, _BEFORE_DEFINED_NAMES)
        for dn in list(names):
            if dn.get("name") == FILTER_NAME and dn.get("localSheetId") == str(position):
                names.remove(dn)
        if ref is not None:
            start, end = ref.split(":")
            absolute = "$" + "$".join(_split_ref(start)) + ":$" + "$".join(_split_ref(end))
            dn = etree.SubElement(
                names, _m("definedName"), name=FILTER_NAME, localSheetId=str(position), hidden="1"
            )
            dn.text = f"{quote_sheet(sheet)}!{absolute}"
        if len(names) == 0:
            self.workbook.remove(names)

    def remove_types(self) -> None:
        for override in list(self.types):
            if override.get("PartName", "").lstrip("/") in self.dropped:
                self.types.remove(override)

    def styles_for(self, formats: set[str]) -> tuple[int, dict[str, int]]:
        styles = _Styles(self.styles)
        header = styles.xf(0, styles.bold_font_id())
        return header, {code: styles.xf(styles.num_fmt_id(code)) for code in sorted(formats)}


def _entry(name: str, date_time: tuple[int, int, int, int, int, int] | None = None) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time or time.localtime()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _split_ref(cell: str) -> tuple[str, str]:
    letters = cell.rstrip("0123456789")
    return letters, cell[len(letters) :]


def _data_rows(zin: zipfile.ZipFile, part: str) -> int:
    """Data rows of an existing sheet, from its ``<dimension>`` (Excel and couplet always write it)."""
    if part not in zin.namelist():
        return 0
    with zin.open(part) as f:
        head = f.read(4096).decode("utf-8", "replace")
    m = _DIMENSION.search(head)
    return max(0, int(m[1] or 1) - 1) if m else 0


def splice(
    source: Path | bytes,
    out: IO[bytes],
    sheet: str,
    formats: set[str],
    filter_ref: str | None,
    write_part: Callable[[IO[bytes], int, dict[str, int]], None],
) -> int:
    """Write to ``out`` the workbook ``source`` with sheet ``sheet`` replaced by ``write_part``'s output.

    ``write_part(stream, header_style, format_styles)`` streams the new sheet part. Returns how many
    data rows the replaced sheet had (0 for a new sheet).
    """
    src = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115
    with src, zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        pkg = Package(zin)
        part, position = pkg.sheet_part(sheet)
        replaced = _data_rows(zin, part)
        pkg.drop_sheet_dependents(part)
        pkg.drop_calc_chain()
        pkg.set_filter_name(sheet, position, filter_ref)
        pkg.remove_types()
        header_style, format_styles = pkg.styles_for(formats)
        edited = {
            "[Content_Types].xml": pkg.types,
            pkg.workbook_part: pkg.workbook,
            pkg.rels_part: pkg.rels,
            pkg.styles_part: pkg.styles,
        }
        written = False
        for info in zin.infolist():
            name = info.filename
            if name in pkg.dropped:
                continue
            if name == part:
                with zout.open(_entry(name), "w") as stream:
                    write_part(stream, header_style, format_styles)
                written = True
            elif name in edited:
                zout.writestr(_entry(name), _dump(edited[name]))
            else:
                copy = _entry(name, info.date_time)
                copy.external_attr = info.external_attr
                with zin.open(info) as reader, zout.open(copy, "w") as writer:
                    shutil.copyfileobj(reader, writer, 1 << 20)
        if not written:
            with zout.open(_entry(part), "w") as stream:
                write_part(stream, header_style, format_styles)
    return replaced
