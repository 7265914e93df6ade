import Foundation

/// How report lines spell values, in one place so that every command's JSON and text agree.
public enum ReportText {
    /// `text` as a JSON string literal (quotes, backslashes and control characters escaped).
    public static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }

    /// A finite number in `%.6g` form, else null: JSON has no infinity or NaN.
    public static func jsonNumber(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "null" }
        return String(format: "%.6g", value)
    }

    /// A finite number with `digits` decimals, else null.
    public static func jsonFixed(_ value: Double?, _ digits: Int) -> String {
        guard let value, value.isFinite else { return "null" }
        return String(format: "%.\(digits)f", value)
    }

    /// For people: `digits` decimals ("inf" and "nan" as such).
    public static func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }

    /// For people: a fraction as a percentage with two decimals.
    public static func percent(_ value: Double) -> String { String(format: "%.2f%%", 100 * value) }
}
