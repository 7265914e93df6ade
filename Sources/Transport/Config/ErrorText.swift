/// How error messages echo bad input.
public enum ErrorText {
    /// `text` in single quotes with control and non-ASCII characters escaped (`\0`, `\u{200B}`),
    /// so a NUL, a terminal escape or an invisible character can neither garble the terminal
    /// nor hide, and cut after `limit` characters so a 100 KB value stays one readable line
    /// (the default shows a whole key or the longest valid name).
    public static func quoted(_ text: some StringProtocol, limit: Int = 64) -> String {
        let scalars = text.unicodeScalars
        let shown = scalars.prefix(limit).map { $0.escaped(asASCII: true) }.joined()
        return scalars.count > limit ? "'\(shown)...' (\(text.utf8.count) bytes)" : "'\(shown)'"
    }
}
