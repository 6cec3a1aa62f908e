"""Statements and reports generated as files: the PDF plumbing (``pdf.py``), CSV cells
(``cells.py``) and the commission statements (``commission.py``)."""
