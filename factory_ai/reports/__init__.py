"""Maintenance and quality reports: the store turned into what to fix, when, and where quality slips.

``build(store, scope)`` gathers a :class:`~factory_ai.reports.model.Report` (plain numbers,
computed once in SQL and numpy), and ``write(report, fmt, path)`` renders it as self-contained
HTML (plots embedded), PDF pages or Markdown, plus the work-orders CSV a CMMS imports. Every
section copes with an empty or partial store by saying "no data" and why, never by failing.
Reading only: a report never changes the store. No torch here (line-side machines run it).
"""
