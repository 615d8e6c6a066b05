//! CSV output shared by the exports: every field quoted, quotes doubled, and cells that a
//! spreadsheet would read as a formula (`=`, `+`, `-`, `@`) prefixed with `'`.

/// Appends one field.
pub fn field(out: &mut String, v: &str) {
    out.push('"');
    if v.starts_with(['=', '+', '-', '@']) {
        out.push('\'');
    }
    out.push_str(&v.replace('"', "\"\""));
    out.push('"');
}

/// Appends one row of fields and its line end.
pub fn row(out: &mut String, fields: &[String]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(out, f);
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    #[test]
    fn fields_are_quoted_and_formulas_neutralised() {
        let mut out = String::new();
        super::row(
            &mut out,
            &["a\"b".into(), "=SUM(A1)".into(), "plain".into()],
        );
        assert_eq!(out, "\"a\"\"b\",\"'=SUM(A1)\",\"plain\"\n");
    }
}
