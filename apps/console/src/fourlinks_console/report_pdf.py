"""The monthly street report as a PDF (A4 portrait), in the reader's language (Chinese by default):
the month's figures, the six months' trend (a table and bars of the items and tasks counted), the
communities ranked, the categories most raised and the recurring problems. It prints with the
console's one CJK font, found and embedded as the service cards do (`cards_pdf.with_cjk_font`)."""

from __future__ import annotations

from collections.abc import Sequence

from fpdf import FPDF
from fpdf.fonts import FontFace

from fourlinks_console.cards_pdf import FAMILY, with_cjk_font
from fourlinks_console.figures import FEEDBACK_RATES, TASK_RATES
from fourlinks_console.labels import Labels
from fourlinks_console.names import N_
from fourlinks_console.report import FIGURE_WORDS, FIGURES, MonthlyReport

MARGIN = 15.0
WIDTH = 210 - 2 * MARGIN
HEADINGS = FontFace(family=FAMILY, emphasis="", fill_color=(244, 245, 247))
"""Table headings: the CJK font has no bold face, so a grey ground marks them."""
PARTY_RED = (183, 28, 28)
TITLE = N_("%(unit)s monthly report, %(month)s")
NO_PERSONAL_DATA = N_(
    "Figures, units and categories only: this report holds no one's name, phone, address or words."
)


def render(report: MonthlyReport, labels: Labels) -> bytes:
    """The report's PDF."""
    pdf = _document(labels.say(TITLE, unit=labels.unit(report.unit), month=report.month))
    _title(pdf, report, labels)
    _figures(pdf, report, labels)
    _trend(pdf, report, labels)
    _rankings(pdf, report, labels)
    _categories(pdf, report, labels)
    _recurring(pdf, report, labels)
    return bytes(pdf.output())


def _document(title: str) -> FPDF:
    pdf = FPDF(unit="mm", format="A4")
    with_cjk_font(pdf)
    pdf.set_margins(MARGIN, MARGIN)
    pdf.set_auto_page_break(True, margin=MARGIN)
    pdf.set_title(title)
    pdf.set_creator("Four Links")
    pdf.add_page()
    return pdf


def _title(pdf: FPDF, report: MonthlyReport, labels: Labels) -> None:
    pdf.set_fill_color(*PARTY_RED)
    pdf.rect(MARGIN, MARGIN, WIDTH, 14, style="F")
    pdf.set_text_color(255)
    pdf.set_font(FAMILY, size=16)
    pdf.set_xy(MARGIN + 4, MARGIN + 3)
    pdf.cell(WIDTH - 8, 8, labels.say(TITLE, unit=labels.unit(report.unit), month=report.month))
    pdf.set_text_color(90)
    pdf.set_font(FAMILY, size=8.5)
    pdf.set_xy(MARGIN, MARGIN + 16)
    pdf.multi_cell(WIDTH, 4.5, labels.say(NO_PERSONAL_DATA))
    pdf.set_text_color(0)
    pdf.ln(2)


def _heading(pdf: FPDF, words: str) -> None:
    if pdf.get_y() > 297 - MARGIN - 40:  # a heading never ends a page alone
        pdf.add_page()
    pdf.ln(3)
    pdf.set_font(FAMILY, size=13)
    pdf.set_text_color(*PARTY_RED)
    pdf.cell(WIDTH, 8, words, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.set_font(FAMILY, size=9.5)


def _table(
    pdf: FPDF,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths: Sequence[float],
    *,
    words: int = 1,
) -> None:
    """A table: its first `words` columns left-aligned, the numbers after them right-aligned."""
    pdf.set_font(FAMILY, size=9.5)
    pdf.set_fill_color(255)  # cells on white paper, whatever was drawn before
    pdf.set_draw_color(170)
    align = tuple("LEFT" if n < words else "RIGHT" for n in range(len(header)))
    with pdf.table(
        col_widths=tuple(widths), text_align=align, headings_style=HEADINGS, line_height=6
    ) as table:
        for line in (header, *rows):
            row = table.row()
            for text in line:
                row.cell(text)


def _empty(pdf: FPDF, labels: Labels) -> None:
    pdf.set_text_color(90)
    pdf.cell(WIDTH, 6, labels.say(N_("Nothing was counted this month.")), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)


def _shown(labels: Labels, value: object, how: str) -> str:
    number = value if isinstance(value, int | float) else None
    return labels.language.percent(number) if how == "percent" else labels.language.number(number or 0)


def _figure_word(labels: Labels, name: str) -> str:
    return labels.say(FIGURE_WORDS.get(name, name))


def _figures(pdf: FPDF, report: MonthlyReport, labels: Labels) -> None:
    _heading(pdf, labels.say(N_("The month in figures")))
    said, worked = report.this_month
    rows = [
        (
            _figure_word(labels, name),
            _shown(labels, (said if source == "feedback" else worked).get(name), how),
        )
        for source, name, how in FIGURES
    ]
    _table(pdf, (labels.say(N_("Figure")), report.month), rows, (WIDTH * 0.65, WIDTH * 0.35))


def _trend(pdf: FPDF, report: MonthlyReport, labels: Labels) -> None:
    _heading(pdf, labels.say(N_("Trends over six months")))
    header = [labels.say(N_("Month")), *(_figure_word(labels, name) for _, name, _ in FIGURES)]
    rows = [
        [
            month,
            *(
                _shown(
                    labels, (report.feedback if s == "feedback" else report.tasks).get(month, {}).get(n), how
                )
                for s, n, how in FIGURES
            ),
        ]
        for month in report.months
    ]
    first = 22.0
    _table(pdf, header, rows, (first, *([(WIDTH - first) / len(FIGURES)] * len(FIGURES))))
    _bars(pdf, report, labels)


def _bars(pdf: FPDF, report: MonthlyReport, labels: Labels) -> None:
    """Each month's feedback items (red) and tasks (grey) as bars, to the scale of the largest."""
    counts = [
        (
            month,
            int(report.feedback.get(month, {}).get("feedback", 0)),
            int(report.tasks.get(month, {}).get("tasks", 0)),
        )
        for month in report.months
    ]
    largest = max((max(f, t) for _, f, t in counts), default=0)
    if not largest:
        return
    height, top = 36.0, pdf.get_y() + 4
    if top + height + 12 > 297 - MARGIN:
        pdf.add_page()
        top = pdf.get_y()
    slot = WIDTH / len(counts)
    for n, (month, said, worked) in enumerate(counts):
        x = MARGIN + n * slot + slot * 0.2
        for k, (value, colour) in enumerate(((said, PARTY_RED), (worked, (150, 150, 150)))):
            tall = height * value / largest
            pdf.set_fill_color(*colour)
            if tall:
                pdf.rect(x + k * slot * 0.3, top + height - tall, slot * 0.28, tall, style="F")
        pdf.set_font(FAMILY, size=7.5)
        pdf.set_xy(MARGIN + n * slot, top + height + 1)
        pdf.cell(slot, 4, month, align="C")
    key_y = top + height + 7
    pdf.set_font(FAMILY, size=8)
    pdf.set_xy(MARGIN, key_y)
    for name, colour in (("feedback", PARTY_RED), ("tasks", (150, 150, 150))):
        pdf.set_fill_color(*colour)
        pdf.rect(pdf.get_x(), key_y + 1, 3, 3, style="F")
        pdf.set_x(pdf.get_x() + 4)
        words = _figure_word(labels, name)
        pdf.cell(pdf.get_string_width(words) + 6, 5, words)
    pdf.set_xy(MARGIN, key_y + 6)


def _rankings(pdf: FPDF, report: MonthlyReport, labels: Labels) -> None:
    _heading(pdf, labels.say(N_("Communities in %(month)s"), month=report.month))
    if not report.communities:
        _empty(pdf, labels)
    else:
        header = [
            labels.say(N_("Unit")),
            _figure_word(labels, "feedback"),
            *(labels.say(rate) for rate in FEEDBACK_RATES),
            _figure_word(labels, "tasks"),
            *(labels.say(rate) for rate in TASK_RATES),
        ]
        rows = [
            [
                labels.unit(c["group"]),
                _shown(labels, c["feedback"].get("feedback"), "number"),
                *(_shown(labels, c["feedback"].get(rate), "percent") for rate in FEEDBACK_RATES),
                _shown(labels, c["tasks"].get("tasks"), "number"),
                *(_shown(labels, c["tasks"].get(rate), "percent") for rate in TASK_RATES),
            ]
            for c in report.communities
        ]
        first = 40.0
        _table(pdf, header, rows, (first, *([(WIDTH - first) / (len(header) - 1)] * (len(header) - 1))))
    for ranking in (report.feedback_ranking, report.task_ranking):
        metric = str(ranking["metric"])
        pdf.ln(2)
        pdf.set_font(FAMILY, size=10)
        title = labels.say(N_("Ranked by %(rate)s"), rate=labels.say(metric))
        pdf.cell(WIDTH, 6, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FAMILY, size=8.5)
        pdf.set_text_color(90)
        hint = labels.say(
            N_("Only units with at least %(n)s in the sample are ranked."), n=ranking["minimum_sample"]
        )
        pdf.cell(WIDTH, 5, hint, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0)
        if not ranking["ranking"]:
            _empty(pdf, labels)
            continue
        rows = [
            [str(n), labels.unit(g["group"]), _shown(labels, g.get(metric), "percent")]
            for n, g in enumerate(ranking["ranking"], start=1)
        ]
        _table(pdf, ("#", labels.say(N_("Unit")), labels.say(metric)), rows, (12, WIDTH - 52, 40), words=2)


def _categories(pdf: FPDF, report: MonthlyReport, labels: Labels) -> None:
    _heading(pdf, labels.say(N_("What residents raised most")))
    for source, title in (
        ("feedback", N_("Residents' feedback by category")),
        ("assignments", N_("Tasks by category")),
    ):
        rows = report.categories[source]
        pdf.set_font(FAMILY, size=10)
        pdf.cell(WIDTH, 6, labels.say(title), new_x="LMARGIN", new_y="NEXT")
        if not rows:
            _empty(pdf, labels)
            continue
        lines = [[labels.category(r["category"]), labels.language.number(r["count"])] for r in rows]
        _table(pdf, (labels.say(N_("Category")), labels.say(N_("Count"))), lines, (WIDTH * 0.7, WIDTH * 0.3))


def _recurring(pdf: FPDF, report: MonthlyReport, labels: Labels) -> None:
    _heading(pdf, labels.say(N_("Recurring problems")))
    if not report.recurring:
        _empty(pdf, labels)
        return
    rows = [
        [labels.unit(r["unit"]), labels.category(r["category"]), labels.language.number(r["count"])]
        for r in report.recurring
    ]
    header = (labels.say(N_("Place")), labels.say(N_("Category")), labels.say(N_("Times raised")))
    _table(pdf, header, rows, (WIDTH * 0.45, WIDTH * 0.35, WIDTH * 0.2), words=2)
