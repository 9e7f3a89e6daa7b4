"""Back office: the aging report with DSO trend, and its CSV / XLSX exports."""
from __future__ import annotations

from flask import Response, request
from flask_appbuilder import AppBuilder, BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.core.i18n import day, moment, money
from app.insights.aging import BUCKET_LABELS, BUCKETS, SEGMENT_LABELS, aging_report, dso_snapshot
from app.insights.charts import bar_chart, line_chart
from app.insights.export import to_csv, to_xlsx

PAGE = 50
EXPORT_ROWS = 1_000_000


class AgingReportView(BaseView):
    route_base = "/insights"
    default_view = "aging"

    @expose("/aging")
    @has_access
    @permission_name("list")
    def aging(self):
        offset = max(request.args.get("offset", 0, type=int), 0)
        report = aging_report(customer_limit=PAGE, customer_offset=offset)
        dso = dso_snapshot(report.today)
        trend = dso.value
        buckets_chart = bar_chart([(str(BUCKET_LABELS[b]), report.total.buckets[b])
                                   for b in BUCKETS], _("Open amounts by days overdue"), money)
        dso_chart = line_chart([(p.at.strftime("%m/%y"), p.dso) for p in trend],
                               _("DSO by month (days)"), lambda v: f"{float(v):.0f}")
        return self.render_template(
            "insights/aging.html", report=report, trend=trend, buckets=BUCKETS,
            bucket_labels=BUCKET_LABELS, segment_labels=SEGMENT_LABELS, page=PAGE,
            buckets_chart=buckets_chart, dso_chart=dso_chart, day=day, dso=dso,
            moment=moment)

    @expose("/aging.csv")
    @has_access
    @permission_name("download")
    def aging_csv(self):
        report = aging_report(customer_limit=EXPORT_ROWS)
        return _download(to_csv(report), "text/csv; charset=utf-8",
                         f"aging-{report.today}.csv")

    @expose("/aging.xlsx")
    @has_access
    @permission_name("download")
    def aging_xlsx(self):
        report = aging_report(customer_limit=EXPORT_ROWS)
        return _download(to_xlsx(report),
                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                         f"aging-{report.today}.xlsx")


def _download(body: bytes, mimetype: str, name: str) -> Response:
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store"})


def register(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(AgingReportView, "Aging report", label=_l("Aging report"),
                        icon="fa-bar-chart", category="Receivables")
