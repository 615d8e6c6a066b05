//! Invoices as PDF, written by hand (PDF 1.4, A4, the standard Helvetica font, no dependency):
//! a header with seller, buyer, number, dates and status, the lines, and the totals; pages are
//! added when the lines do not fit. Text outside Latin-1 is written as `?`.

use chrono::NaiveDate;

/// What an invoice PDF shows; amounts are already formatted.
#[derive(Debug, Clone)]
pub struct InvoiceDocument {
    pub number: String,
    pub issued_on: NaiveDate,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub status: String,
    pub seller: String,
    pub buyer_name: String,
    pub buyer_email: String,
    pub currency: String,
    /// (description, quantity, amount).
    pub lines: Vec<(String, String, String)>,
    pub subtotal: String,
    pub credits: String,
    pub total: String,
}

/// A4 in points.
const PAGE: (f32, f32) = (595.0, 842.0);
const MARGIN: f32 = 56.0;
const LINE: f32 = 16.0;

/// A string as a PDF literal: Latin-1 (others as `?`), with `\`, `(` and `)` escaped.
fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('(');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '(' => out.push_str("\\("),
            ')' => out.push_str("\\)"),
            '\n' | '\r' | '\t' => out.push(' '),
            c if (c as u32) < 0x20 => {}
            c if (c as u32) < 0x80 => out.push(c),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\{:03o}", c as u32)),
            _ => out.push('?'),
        }
    }
    out.push(')');
    out
}

/// Text operations of one page.
struct PageText {
    ops: String,
    y: f32,
}

impl PageText {
    fn new() -> Self {
        Self {
            ops: String::new(),
            y: PAGE.1 - MARGIN,
        }
    }

    fn text(&mut self, x: f32, size: f32, bold: bool, s: &str) {
        let font = if bold { "F2" } else { "F1" };
        self.ops.push_str(&format!(
            "BT /{font} {size} Tf {x:.1} {:.1} Td {} Tj ET\n",
            self.y,
            literal(s)
        ));
    }

    fn down(&mut self, by: f32) {
        self.y -= by;
    }

    fn full(&self) -> bool {
        self.y < MARGIN + 4.0 * LINE
    }
}

/// Cuts `s` to `max` characters, marking the cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(max - 3).collect::<String>())
    }
}

fn table_head(p: &mut PageText) {
    p.text(MARGIN, 10.0, true, "Description");
    p.text(360.0, 10.0, true, "Quantity");
    p.text(460.0, 10.0, true, "Amount");
    p.down(LINE);
}

/// Renders the invoice.
pub fn render_invoice_pdf(doc: &InvoiceDocument) -> Vec<u8> {
    let mut pages = vec![PageText::new()];
    {
        let p = pages.last_mut().expect("a page");
        p.text(MARGIN, 20.0, true, &format!("Invoice {}", doc.number));
        p.down(28.0);
        for (label, value) in [
            ("Issued by", doc.seller.as_str()),
            (
                "Billed to",
                &format!("{} <{}>", doc.buyer_name, doc.buyer_email),
            ),
            ("Issued on", &doc.issued_on.to_string()),
            (
                "Period",
                &format!("{} to {}", doc.period_start, doc.period_end),
            ),
            ("Currency", doc.currency.as_str()),
            ("Status", doc.status.as_str()),
        ] {
            p.text(MARGIN, 10.0, true, label);
            p.text(150.0, 10.0, false, &clip(value, 70));
            p.down(LINE);
        }
        p.down(LINE);
        table_head(p);
    }
    for (description, quantity, amount) in &doc.lines {
        if pages.last().expect("a page").full() {
            let mut next = PageText::new();
            next.text(
                MARGIN,
                10.0,
                false,
                &format!("Invoice {} (continued)", doc.number),
            );
            next.down(2.0 * LINE);
            table_head(&mut next);
            pages.push(next);
        }
        let p = pages.last_mut().expect("a page");
        p.text(MARGIN, 10.0, false, &clip(description, 55));
        p.text(360.0, 10.0, false, &clip(quantity, 16));
        p.text(460.0, 10.0, false, amount);
        p.down(LINE);
    }
    let p = pages.last_mut().expect("a page");
    p.down(LINE / 2.0);
    for (label, value, bold) in [
        ("Subtotal", &doc.subtotal, false),
        ("Credits", &doc.credits, false),
        ("Total", &doc.total, true),
    ] {
        p.text(360.0, 10.0, bold, label);
        p.text(460.0, 10.0, bold, value);
        p.down(LINE);
    }
    assemble(&pages)
}

/// The PDF file: catalog, page tree, fonts, pages with their content streams, xref, trailer.
fn assemble(pages: &[PageText]) -> Vec<u8> {
    let n = pages.len();
    // Objects: 1 catalog, 2 pages, 3 Helvetica, 4 Helvetica-Bold, then per page (page, content).
    let mut objects: Vec<String> = Vec::new();
    objects.push("<< /Type /Catalog /Pages 2 0 R >>".into());
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 5 + 2 * i)).collect();
    objects.push(format!(
        "<< /Type /Pages /Kids [{}] /Count {n} >>",
        kids.join(" ")
    ));
    objects.push(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".into(),
    );
    objects.push(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
            .into(),
    );
    for (i, p) in pages.iter().enumerate() {
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {} {}] /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {} 0 R >>",
            PAGE.0,
            PAGE.1,
            6 + 2 * i
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{}endstream",
            p.ops.len(),
            p.ops
        ));
    }
    let mut out: Vec<u8> = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body.as_bytes());
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn doc(lines: usize) -> InvoiceDocument {
        InvoiceDocument {
            number: "AVB-2026-000042".into(),
            issued_on: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            period_start: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            period_end: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            status: "PENDING".into(),
            seller: "AgentVoiceBox".into(),
            buyer_name: "Acme (Europe) Ltd".into(),
            buyer_email: "billing@acme.test".into(),
            currency: "EUR".into(),
            lines: (0..lines)
                .map(|i| {
                    (
                        format!("Line {i} (usage)"),
                        "1".into(),
                        format!("EUR {i}.00"),
                    )
                })
                .collect(),
            subtotal: "EUR 1.00".into(),
            credits: "EUR 0.00".into(),
            total: "EUR 1.00".into(),
        }
    }

    #[test]
    fn the_xref_points_at_every_object_and_text_is_escaped() {
        let pdf = render_invoice_pdf(&doc(3));
        assert!(pdf.starts_with(b"%PDF-1.4"));
        let find = |hay: &[u8], needle: &[u8]| {
            hay.windows(needle.len())
                .rposition(|w| w == needle)
                .unwrap()
        };
        let at = find(&pdf, b"startxref\n") + b"startxref\n".len();
        let tail = String::from_utf8_lossy(&pdf[at..]).to_string();
        let start: usize = tail.lines().next().unwrap().parse().unwrap();
        assert!(pdf[start..].starts_with(b"xref"));
        let xref = String::from_utf8_lossy(&pdf[start..]).to_string();
        let entries: Vec<usize> = xref
            .lines()
            .skip(3)
            .take_while(|l| l.ends_with(" n "))
            .map(|l| l[..10].parse().unwrap())
            .collect();
        assert_eq!(entries.len(), 6);
        for (i, off) in entries.iter().enumerate() {
            assert!(pdf[*off..].starts_with(format!("{} 0 obj", i + 1).as_bytes()));
        }
        let text = String::from_utf8_lossy(&pdf).to_string();
        for needle in [
            "(Invoice AVB-2026-000042)",
            "(Line 2 \\(usage\\))",
            "(EUR 1.00)",
            "Acme \\(Europe\\) Ltd",
        ] {
            assert!(text.contains(needle), "missing {needle}");
        }
    }

    #[test]
    fn long_invoices_get_more_pages_and_odd_text_is_safe() {
        let pdf = render_invoice_pdf(&doc(200));
        let text = String::from_utf8_lossy(&pdf).to_string();
        let pages = text.matches("/Type /Page ").count();
        assert!(pages > 1, "{pages} pages");
        assert!(text.contains("(Line 199 \\(usage\\))"));
        assert_eq!(literal("Zoë 北京 \\ x"), "(Zo\\353 ?? \\\\ x)");
    }
}
