"""The auditors' report (self-contained HTML, works offline) and the departments' correction lists.

Entry point: :func:`pipelines.report.render.build_report`.
"""
