/** The console's style sheet (served as a file: the CSP allows no inline style). */
export const CONSOLE_STYLE = `
:root { color-scheme: light dark; --fg: #1d2330; --muted: #5b6475; --bg: #f7f8fa; --card: #fff; --line: #d9dde5; --accent: #2458d6; --bad: #c0392b; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ef; --muted: #9aa3b2; --bg: #14171c; --card: #1c2027; --line: #303643; --accent: #7aa2ff; --bad: #ff7b6b; } }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: center; gap: 24px; padding: 10px 20px; background: var(--card); border-bottom: 1px solid var(--line); }
header h1 { font-size: 18px; margin: 0; letter-spacing: .5px; }
nav { display: flex; gap: 14px; align-items: center; flex-wrap: wrap; }
nav a { color: var(--muted); text-decoration: none; padding: 4px 2px; border-bottom: 2px solid transparent; }
nav a.active { color: var(--fg); border-bottom-color: var(--accent); }
main { padding: 20px; max-width: 1200px; }
h2 { font-size: 16px; margin: 0 0 12px; }
h3 { font-size: 14px; margin: 16px 0 8px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 14px 16px; margin-bottom: 16px; }
.figures { display: flex; gap: 28px; flex-wrap: wrap; }
.figure .label { color: var(--muted); font-size: 12px; }
.figure .value { font-size: 20px; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 12px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.key { word-break: break-all; }
pre { margin: 0; white-space: pre-wrap; word-break: break-word; }
input, select, textarea, button { font: inherit; color: inherit; background: var(--card); border: 1px solid var(--line); border-radius: 4px; padding: 4px 8px; }
textarea { width: 100%; min-height: 140px; font-family: ui-monospace, monospace; font-size: 12px; }
button { cursor: pointer; }
button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
button.danger { color: var(--bad); border-color: var(--bad); }
.row { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin-bottom: 8px; }
.error { color: var(--bad); }
.muted { color: var(--muted); }
.note { background: rgba(36, 88, 214, .1); border: 1px solid var(--accent); border-radius: 6px; padding: 8px 12px; margin: 0 0 16px; }
button:disabled { cursor: not-allowed; opacity: .45; }
.counting-key { font-size: 11px; }
.legend { display: flex; gap: 14px; flex-wrap: wrap; font-size: 12px; margin-top: 4px; }
.chart > svg { width: 100%; height: auto; display: block; }
.swatch { vertical-align: middle; }
.diff { display: grid; grid-template-columns: 1fr 1fr; gap: 0; border: 1px solid var(--line); }
.diff pre { padding: 0 6px; min-height: 1.4em; }
.diff .del { background: rgba(192, 57, 43, .15); }
.diff .add { background: rgba(39, 174, 96, .15); }
.diff .gap { background: rgba(127, 127, 127, .08); }
#token-form { max-width: 420px; background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 16px; }
#token-form input { width: 100%; margin: 6px 0 10px; }
`;
