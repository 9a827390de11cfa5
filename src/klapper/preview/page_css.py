"""The preview page's style sheet (inline: the page loads nothing)."""

from __future__ import annotations

CSS = """
:root { --ink: #1f2328; --muted: #5f6b7a; --line: #e5e8ee; --card: #fff; --bg: #f4f5f9;
        --accent: #6364ff; --bad: #b42318; --bad-bg: #fef3f2; --warn: #b54708; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Ubuntu, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 24px 48px; }
header.top { display: flex; justify-content: space-between; align-items: flex-end; gap: 16px;
             flex-wrap: wrap; margin-bottom: 20px; }
h1 { font-size: 28px; margin: 0; letter-spacing: -0.02em; }
h1 span { color: var(--accent); }
h2 { font-size: 17px; margin: 0 0 12px; }
h3 { font-size: 15px; margin: 0; white-space: nowrap; overflow: hidden;
     text-overflow: ellipsis; }
.period { color: var(--muted); text-align: right; font-size: 14px; }
section { background: var(--card); border-radius: 14px; padding: 18px 20px; margin-bottom: 18px;
          box-shadow: 0 1px 2px rgba(20, 24, 40, .06), 0 4px 14px rgba(20, 24, 40, .05); }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 14px; margin-bottom: 18px; }
.card { background: var(--card); border-radius: 14px; padding: 14px 18px;
        box-shadow: 0 1px 2px rgba(20, 24, 40, .06); }
.card .value { font-size: 26px; font-weight: 700; }
.card .label { color: var(--muted); font-size: 13px; }
.card.bad .value { color: var(--bad); }
ul { margin: 0; padding: 0; list-style: none; }
.scope p { margin: 0 0 8px; color: var(--muted); }
.scope .files li { font-family: ui-monospace, monospace; font-size: 13px; }
.scope h3 { margin-top: 10px; }
.scope .why { color: var(--muted); }
.scope .removed li { color: var(--bad); text-decoration: line-through; }
.id { font-family: ui-monospace, monospace; font-size: 12px; color: var(--muted);
      margin: 0 6px; }
table.calendar { width: 100%; border-collapse: collapse; table-layout: fixed; }
.calendar th { color: var(--muted); font-size: 12px; font-weight: 600; text-align: left;
               padding: 4px 6px; text-transform: uppercase; letter-spacing: .04em; }
.calendar td { border: 1px solid var(--line); vertical-align: top; height: 84px;
               padding: 4px 6px; font-size: 12px; }
.calendar td.outside { background: #f8f9fb; color: #a3aab5; }
.calendar td.today { box-shadow: inset 0 0 0 2px var(--accent); }
.calendar .date { font-weight: 600; }
.calendar tr.gap td { height: auto; text-align: center; color: var(--muted);
                      background: #f8f9fb; padding: 6px; }
.calendar .clock-change { color: var(--warn); font-size: 11px; }
.calendar li { margin-top: 3px; overflow: hidden; text-overflow: ellipsis;
               white-space: nowrap; }
.calendar li a { color: inherit; text-decoration: none; display: block; background: #eef0ff;
                 border-radius: 5px; padding: 1px 5px; overflow: hidden;
                 text-overflow: ellipsis; }
.calendar li.has-error a { background: var(--bad-bg); color: var(--bad); }
.calendar .who { font-weight: 600; }
.calendar li.more { color: var(--muted); padding-left: 5px; }
article.post { border-top: 1px solid var(--line); padding: 16px 0 6px; }
article.post:first-of-type { border-top: none; padding-top: 4px; }
article.post header { margin-bottom: 10px; }
.where { color: var(--muted); font-size: 12px; font-family: ui-monospace, monospace; }
.deliveries { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr));
              gap: 14px; }
.delivery { border: 1px solid var(--line); border-radius: 12px; padding: 12px 14px; }
.delivery.has-error { border-color: #fda29b; background: var(--bad-bg); }
.account { display: flex; align-items: center; gap: 6px; flex-wrap: wrap;
           margin-bottom: 8px; }
.dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%; }
.platform { color: var(--muted); font-size: 12px; }
.times { margin-left: auto; font-size: 12px; color: var(--muted); }
ol.parts { margin: 0; padding: 0; list-style: none; }
.part { position: relative; padding: 0 0 10px 0; }
.part + .part { border-top: 1px dashed var(--line); padding-top: 10px; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; }
.text.empty { color: var(--muted); font-style: italic; }
.url { color: #175cd3; background: #eff8ff; border-radius: 3px; }
.cw { background: #fffaeb; border: 1px solid #fedf89; border-radius: 6px; padding: 3px 8px;
      margin-bottom: 6px; font-size: 13px; }
.media { display: grid; grid-template-columns: repeat(auto-fill, minmax(130px, 1fr));
         gap: 8px; margin-top: 8px; }
figure { margin: 0; }
.thumb { height: 120px; border-radius: 8px; background: #1f2328 center / contain no-repeat; }
.thumb.missing { background: var(--bad-bg); color: var(--bad); font-size: 12px;
                 padding: 8px; overflow-wrap: anywhere; }
figcaption { font-size: 12px; color: var(--muted); margin-top: 3px; }
figcaption.no-alt { color: var(--bad); font-weight: 600; }
.meta { display: flex; gap: 6px; flex-wrap: wrap; align-items: center; margin-top: 6px;
        font-size: 12px; }
.number { color: var(--muted); font-weight: 600; }
.count { font-variant-numeric: tabular-nums; background: #ecfdf3; color: #067647;
         border-radius: 10px; padding: 0 8px; font-weight: 600; }
.count.over { background: var(--bad); color: #fff; }
.chip { background: #f2f4f7; border-radius: 10px; padding: 0 8px; color: var(--muted); }
.first-comment { border-left: 3px solid var(--line); padding-left: 10px; margin-top: 4px; }
.first-comment .label, .tags { font-size: 12px; color: var(--muted); }
.problems { margin-top: 8px; font-size: 13px; }
.problems li { padding: 2px 0; }
.problems li.error b { color: var(--bad); }
.problems li.warning b { color: var(--warn); }
.problems .where { margin-right: 4px; }
.nothing { color: var(--muted); }
@media (max-width: 760px) { .cards { grid-template-columns: repeat(2, 1fr); } }
"""
