import Foundation

/// Escapes text for HTML element content and attribute values.
public func escapeHTML(_ text: String) -> String {
  var out = ""
  out.reserveCapacity(text.utf8.count)
  for scalar in text.unicodeScalars {
    switch scalar {
    case "&": out += "&amp;"
    case "<": out += "&lt;"
    case ">": out += "&gt;"
    case "\"": out += "&quot;"
    case "'": out += "&#39;"
    default:
      if scalar.value < 0x20 && scalar != "\n" && scalar != "\t" {
        out += "&#\(scalar.value);"
      } else {
        out.unicodeScalars.append(scalar)
      }
    }
  }
  return out
}

/// A self-contained HTML page: inline CSS, inline SVG, no external URL, readable
/// without JavaScript.
struct HTMLPage {
  var title: String
  var body: [String] = []
  /// The closing line (default: how relevance colours read).
  var footer =
    "Made by xai. Relevance colours: red supports the target class, blue speaks against it, white is zero; intensity is |R| relative to the row's largest |R|. Hover a token for its exact value."

  mutating func append(_ html: String) { body.append(html) }

  var text: String {
    """
    <!DOCTYPE html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="generator" content="xai">
    <title>\(escapeHTML(title))</title>
    <style>
    \(HTMLPage.css)
    </style>
    </head>
    <body>
    <main>
    \(body.joined(separator: "\n"))
    <footer>\(escapeHTML(footer))</footer>
    </main>
    </body>
    </html>

    """
  }

  static let css = """
    :root { color-scheme: light; --ink: #1d2330; --muted: #5b6475; --line: #d9dde5; }
    * { box-sizing: border-box; }
    body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #f6f7f9; }
    main { max-width: 1100px; margin: 0 auto; padding: 24px 20px 48px; }
    h1 { font-size: 22px; margin: 0 0 4px; }
    h2 { font-size: 17px; margin: 28px 0 8px; }
    .sub { color: var(--muted); margin: 0 0 16px; }
    section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; margin: 14px 0; overflow-x: auto; }
    table { border-collapse: collapse; }
    th, td { text-align: left; padding: 4px 8px; vertical-align: middle; }
    table.data th { font-weight: 600; color: var(--muted); border-bottom: 1px solid var(--line); }
    table.data td { border-bottom: 1px solid #eef0f4; font-variant-numeric: tabular-nums; }
    table.data.wide th, table.data.wide td { padding: 4px 5px; }
    table.data.wide td.name { white-space: normal; min-width: 9em; }
    table.heat { border-spacing: 3px; border-collapse: separate; margin-bottom: 10px; }
    table.heat th { width: 150px; }
    table.heat th { font-weight: 600; color: var(--muted); white-space: nowrap; padding-right: 12px; }
    .tok { display: inline-block; padding: 2px 5px; border-radius: 4px; white-space: pre; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
    td.tokcell { padding: 0; }
    .sentence .tok { margin: 2px 1px; }
    .bar { height: 12px; background: #7a8599; border-radius: 2px; display: inline-block; vertical-align: middle; }
    .bar.best { background: #c0392b; }
    td.axis { white-space: nowrap; }
    .half { display: inline-block; width: 82px; }
    .half.neg-side { text-align: right; border-right: 1px solid #5b6475; }
    .legend { display: flex; align-items: center; gap: 8px; color: var(--muted); font-size: 13px; }
    .legend .scale { width: 240px; height: 12px; border-radius: 3px; background: linear-gradient(90deg, #7373b9, #ffffff, #b92626); border: 1px solid var(--line); }
    .num { font-variant-numeric: tabular-nums; }
    details { border-top: 1px solid #eef0f4; padding: 6px 0; }
    summary { cursor: pointer; }
    .pos { color: #b92626; } .neg { color: #3c3cb0; }
    .warning { background: #fff4e0; border: 1px solid #e0a64a; border-radius: 8px; padding: 10px 14px; margin: 14px 0; }
    footer { color: var(--muted); font-size: 12px; margin-top: 28px; }
    svg text { font-family: system-ui, sans-serif; }
    .charts { display: flex; flex-wrap: wrap; gap: 8px; }
    figure.chart { margin: 0; }
    .swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
    .se { color: var(--muted); font-size: 11px; }
    table.data td.num, table.data td.name { white-space: nowrap; }
    td.best { background: #fdf2e9; }
    table.images th { font-weight: 600; color: var(--muted); white-space: nowrap; }
    table.images td { padding: 4px 6px; }
    table.images svg { border: 1px solid var(--line); }
    """
}

/// A number with `digits` significant digits, for every view (terminal, HTML, tables);
/// "n/a" for NaN or infinity.
func formatNumber(_ value: Float, digits: Int = 4) -> String {
  guard value.isFinite else { return "n/a" }
  return String(format: "%.\(digits)g", Double(value))
}

/// Background/foreground style of a token cell.
func tokenStyle(_ value: Float, scale: Float) -> String {
  let background = RGB.diverging(value, scale: scale)
  return "background:\(background.hex);color:\(background.contrastingText.hex)"
}
