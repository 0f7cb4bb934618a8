package report

import (
	"html/template"
	"strings"
	"unicode/utf8"
)

// css is scoped to the report's root element, so a page that embeds the
// fragment keeps its own styles. The print rules fit a lot on one A4 page
// (README, "The lot report", says how much a page holds): compact type, the
// custody graph and the route map side by side and scaled, the rules run
// and the glossary in footnote-size type, the glossary in its short words
// ([Term].Short) and a rule's explanation once. Past one page the report
// goes on over the next: no flag, timeline row or figure is split, and the
// timeline's header repeats. A word too long for its line breaks rather
// than run off the page (overflow-wrap:break-word, which leaves a table's
// column widths alone); a table cell holding a word longer than 24
// characters (a lot id may be 128) is of class longid, and only it, the h1
// and the key-value lists break anywhere: on the report's root,
// overflow-wrap:anywhere made every cell's narrowest width one character,
// and the table squeezed its columns until words broke inside. It is the
// report's only styling: the template writes no style attributes, so a page
// whose Content-Security-Policy allows this one style element (by its hash,
// [StyleSheet]) needs no 'unsafe-inline'.
const css = `
.sbr{font:13px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1b1f24;max-width:1000px;margin:0 auto;padding:16px;overflow-wrap:break-word}
.sbr h1{font-size:20px;margin:0 0 4px;overflow-wrap:anywhere}
.sbr dd,.sbr .longid{overflow-wrap:anywhere}
.sbr h2{font-size:15px;margin:18px 0 6px;border-bottom:1px solid #d0d7de;padding-bottom:2px}
.sbr h3{font-size:13px;margin:8px 0 2px}
.sbr p{margin:4px 0}
.sbr .muted{color:#57606a}
.sbr .small{font-size:11px}
.sbr .mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:11px;word-break:break-all}
.sbr .verdict{border-radius:6px;padding:10px 12px;margin:10px 0;border:2px solid}
.sbr .verdict strong{font-size:18px;letter-spacing:.03em}
.sbr .verdict.ok{background:#dafbe1;border-color:#1a7f37}
.sbr .verdict.flagged{background:#fff8c5;border-color:#bf8700}
.sbr .verdict.invalid{background:#ffebe9;border-color:#cf222e}
.sbr .untrusted{background:#ffebe9;border:1px dashed #cf222e;padding:4px 8px;margin:6px 0;font-weight:600}
.sbr table{border-collapse:collapse;width:100%;margin:4px 0}
.sbr th,.sbr td{text-align:left;vertical-align:top;padding:3px 6px;border-bottom:1px solid #eaeef2}
.sbr th{background:#f6f8fa;font-weight:600}
.sbr td.num,.sbr th.num{text-align:right;white-space:nowrap}
.sbr dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:4px 0}
.sbr dl.kv dt{font-weight:600}
.sbr dl.kv dd{margin:0}
.sbr .flag{border-left:4px solid #bf8700;padding:4px 10px;margin:8px 0;background:#fafbfc}
.sbr .flag.critical{border-color:#cf222e}
.sbr .flag.info{border-color:#0969da}
.sbr .sev{font-weight:700;font-size:11px;padding:1px 5px;border-radius:3px;color:#fff;background:#bf8700}
.sbr .sev.critical{background:#cf222e}
.sbr .sev.info{background:#0969da}
.sbr .note{background:#ddf4ff;border:1px solid #54aeff;padding:6px 10px;margin:6px 0}
.sbr tr.flagged td{background:#fff8c5}
.sbr figure{margin:0}
.sbr svg{max-width:100%;height:auto;display:block;margin:4px 0}
.sbr svg text{font-family:system-ui,Arial,sans-serif}
.sbr .cols{display:grid;grid-template-columns:1fr 1fr;gap:0 24px}
.sbr ul{margin:2px 0;padding-left:18px}
.sbr .printonly,.sbr .printinline{display:none}
.sbr .nowrap{white-space:nowrap}
.sbr .was{color:#57606a;font-size:smaller;white-space:normal}
@media print{
  @page{size:A4;margin:7mm 9mm}
  .sbr{font-size:7pt;line-height:1.25;max-width:none;padding:0}
  .sbr h1{font-size:12pt;margin:0}
  .sbr h2{font-size:8pt;margin:4pt 0 1.5pt;padding-bottom:1pt;break-after:avoid}
  .sbr h3{font-size:7pt;margin:2pt 0 1pt}
  .sbr p{margin:1.5pt 0}
  .sbr .small,.sbr .mono,.sbr .sev{font-size:6.3pt}
  .sbr .verdict{padding:2pt 6pt;margin:3pt 0;border-width:1.5pt;border-radius:3pt}
  .sbr .verdict strong{font-size:10pt}
  .sbr .verdict p{margin:0 0 0 4pt;display:inline}
  .sbr dl.kv{gap:0 8pt;margin:2pt 0}
  .sbr dl.facts{grid-template-columns:max-content 1fr max-content max-content}
  .sbr th,.sbr td{padding:.5pt 3pt}
  .sbr ul{padding-left:10pt;margin:1pt 0}
  .sbr .cols{gap:0 12pt}
  .sbr .flag{border-left-width:3pt;padding:1.5pt 6pt;margin:3pt 0}
  .sbr .note{padding:2pt 6pt;margin:3pt 0}
  .sbr .untrusted{padding:2pt 6pt}
  .sbr table.timeline{font-size:6.3pt;line-height:1.2}
  .sbr table.timeline th{white-space:normal}
  .sbr table.timeline .mono{font-size:6pt}
  .sbr thead{display:table-header-group}
  .sbr .flag,.sbr .note,.sbr .verdict,.sbr figure,.sbr tr{break-inside:avoid}
  .sbr .verdict,.sbr .flag,.sbr .note,.sbr tr.flagged td,.sbr .untrusted,.sbr .sev{-webkit-print-color-adjust:exact;print-color-adjust:exact}
  .sbr a{color:inherit;text-decoration:none}
  .sbr table.timeline td.party{width:25%}
  .sbr table.timeline td.what{width:36%}
  .sbr .figs{display:grid;grid-template-columns:1fr 1fr;grid-template-areas:"graph map" "rules map" "gloss gloss";grid-template-rows:auto 1fr auto;gap:0 12pt;align-items:start}
  .sbr .figs>section{min-width:0}
  .sbr .figs .graphs{grid-area:graph}
  .sbr .figs .maps{grid-area:map}
  .sbr .figs .rules{grid-area:rules}
  .sbr .figs .glossary{grid-area:gloss}
  .sbr svg.graph{zoom:.7;max-height:70mm;max-width:100%}
  .sbr .maps figure{display:grid;grid-template-columns:auto 1fr;gap:0 6pt;align-items:start}
  .sbr .maps figure>*{grid-column:2}
  .sbr .maps figure>svg.map{grid-column:1;grid-row:1/span 3;width:auto;height:auto;max-height:44mm;max-width:58mm;margin:0}
  .sbr figcaption,.sbr .figs .small{font-size:5.8pt;line-height:1.2}
  .sbr .glossary{font-size:5.6pt;line-height:1.2}
  .sbr .rules{font-size:6pt;line-height:1.2}
  .sbr .desc{display:none}
  .sbr .screen,.sbr dl.kv.screen{display:none}
  .sbr .printonly{display:block}
  .sbr .printinline{display:inline}
  .sbr .flag .evlabel,.sbr .flag ul.evidence,.sbr .flag ul.evidence li{display:inline;padding:0;margin:0}
  .sbr .flag .evlabel::after{content:" "}
  .sbr .flag ul.evidence li+li::before{content:"; "}
}
`

// longWord is the length past which a word in a table cell may break
// anywhere (class longid): an ordinary word, a party name or a short lot id
// stays whole.
const longWord = 24

// long says whether any of texts holds a word longer than longWord runes.
func long(texts ...string) bool {
	for _, t := range texts {
		for _, w := range strings.Fields(t) {
			if utf8.RuneCountInString(w) > longWord {
				return true
			}
		}
	}
	return false
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"add":  func(a, b float64) float64 { return a + b },
	"long": long,
}).Parse(`
{{define "document"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Lot {{.Lot}}: {{.Verdict}}</title>
<style>{{.CSS}}</style>
</head>
<body>
{{template "content" .}}
</body>
</html>
{{end}}

{{define "fragment"}}<div class="sbr-fragment">
<style>{{.CSS}}</style>
{{template "content" .}}
</div>
{{end}}

{{define "content"}}<article class="sbr" data-lot="{{.Lot}}" data-verdict="{{.Verdict}}">
<header>
<h1>Antimony lot {{.Lot}}: provenance report</h1>
<p class="muted small">{{if .Generated}}Generated {{.Generated}}.{{end}}{{if .Source}} {{.Source}}{{end}}</p>
<div class="verdict {{.VerdictClass}}"><strong>{{.Verdict}}</strong>
<p>{{.VerdictWords}}</p>
{{if .Flags}}<p>{{len .Flags}} flag(s): {{.FlagCounts}}.</p>{{end}}
</div>
{{if .Invalid}}<p class="untrusted">Nothing in this report is to be trusted: verification failed.</p>
{{if .Errors}}<h3>Errors</h3><ul>{{range .Errors}}<li class="mono">{{.}}</li>{{end}}</ul>{{end}}
{{else}}<dl class="kv facts">
<dt>Holder</dt><dd>{{.Holder}}</dd>
<dt>Mass</dt><dd>{{.Mass}} kg (wet, as of the checkpoint)</dd>
<dt>Contained Sb</dt><dd>{{.ContainedSb}} kg</dd>
<dt>Untraced share</dt><dd>{{.UntracedPct}} ({{.UntracedKg}} kg Sb)</dd>
</dl>{{end}}
</header>

<section class="cols">
<div>
<h2>Checkpoint</h2>
<dl class="kv">
<dt>Log</dt><dd>{{if .Origin}}{{.Origin}}{{else}}unknown{{end}}</dd>
<dt>Tree size</dt><dd>{{if .TreeSize}}{{.TreeSize}} records{{else}}unknown{{end}}</dd>
<dt>Signed</dt><dd>{{if .Signed}}{{.Signed}}{{else}}unknown{{end}}</dd>
<dt>Root hash</dt><dd class="mono">{{if .Root}}{{.Root}}{{else}}unknown{{end}}</dd>
<dt>Witnesses</dt><dd>{{if .Cosigners}}{{range $i, $c := .Cosigners}}{{if $i}}, {{end}}{{$c.Name}} ({{if $c.Checked}}cosignature checked against the witness policy{{else}}cosignature present, not checked: no witness policy named it{{end}}){{end}}{{else}}none: no witness had cosigned this checkpoint{{end}}</dd>
</dl>
{{if not .Witnessed}}<p class="small muted">No cosignature was checked against a witness policy: this report alone does not show that other buyers see the same log.</p>{{end}}
</div>
<div>
<h2>What was checked</h2>
<table>
<tr><td>Records decoded from the bundle</td><td class="num">{{.Checks.Records}}</td></tr>
<tr><td>Signatures on those records, each checked against its signer's registered key (Ed25519, DSSE)</td><td class="num">{{.Checks.Signatures}}</td></tr>
<tr><td>Inclusion proofs against the checkpoint</td><td class="num">{{.Checks.Proofs}}</td></tr>
<tr><td>Hash links between records (chains of custody)</td><td class="num">{{.Checks.Links}}</td></tr>
<tr><td>Completeness (map) proofs</td><td class="num">{{.Checks.MapProofs}}</td></tr>
<tr><td>Rules run</td><td class="num">{{.Checks.Rules}}</td></tr>
</table>
{{if .Invalid}}<p class="small">These are what the bundle holds; verification stopped at a failure, so not all of them passed.</p>{{end}}
</div>
</section>

{{if .Corrections}}<section>
<h2>Corrections</h2>
<p class="small">A party corrected its own record (co-signed by the other side of a handoff). The verdict uses the corrected values; the record as first signed stays in the log, and the flags it raised are shown below, marked corrected.</p>
<ul>{{range .Corrections}}<li><span class="mono" title="{{.RecordID}}">{{.Record}}</span> corrects record #{{.Index}} (<span class="mono" title="{{.CorrectsID}}">{{.Corrects}}</span>): {{range $i, $c := .Changes}}{{if $i}}; {{end}}{{$c}}{{end}}. Reason given: {{.Reason}}{{if .AfterMovedOn}} <strong>(made after the lot had moved on)</strong>{{end}}</li>{{end}}</ul>
</section>

{{end}}<section>
<h2>Flags</h2>
{{if not .Flags}}{{if .Invalid}}<p>None: verification failed, so the rules' findings, had there been any, would not count.</p>{{else}}<p>No rule raised a flag.</p>{{end}}{{end}}
{{range .Flags}}<div class="flag {{.SevClass}}">
<p><span class="sev {{.SevClass}}">{{.Severity}}</span> <strong>{{.Rule}}</strong>{{if .CorrectedBy}} <strong class="corrected">CORRECTED by {{range $i, $c := .CorrectedBy}}{{if $i}}, {{end}}{{$c}}{{end}}</strong>: raised by the values as first signed; the corrected values do not raise it, and it does not count in the verdict.{{end}} <span class="muted small">lot {{.Lot}}, party {{.Party}}, log index {{.Index}}{{if .EventTime}}, event {{.EventTime}}{{end}}</span></p>
{{if .ExplainedAbove}}<p class="screen">{{.Explain}}</p>{{else}}<p>{{.Explain}}</p>{{end}}
<p class="small"><strong>Finding:</strong> {{.Message}}{{if .ExplainedAbove}}<span class="printinline muted"> ({{.Rule}} is explained above.)</span>{{end}}</p>
{{if .Evidence}}<p class="small evlabel"><strong>Evidence:</strong></p><ul class="small evidence">{{range .Evidence}}<li>{{if .Anchor}}<a href="#{{.Anchor}}">{{.Desc}}</a>{{else}}{{.Desc}}{{end}}: <span class="mono" title="{{.ID}}">{{.Short}}</span></li>{{end}}</ul>{{end}}
</div>
{{end}}
</section>

{{if not .Invalid}}<section>
<h2>Origins and untraced share</h2>
{{range .OriginWords}}<p>{{.}}</p>{{end}}
{{if .Origins}}<table class="screen">
<tr><th>Origin mine</th><th class="num">Contained Sb</th><th class="num">Share</th></tr>
{{range .Origins}}<tr><td>{{.Mine}}</td><td class="num">{{.Kg}} kg</td><td class="num">{{.Pct}}</td></tr>
{{end}}<tr><td>Untraced</td><td class="num">{{.UntracedKg}} kg</td><td class="num">{{.UntracedPct}}</td></tr>
</table>{{end}}
{{range .AssayNotes}}<p class="note">{{.}}</p>{{end}}
</section>{{end}}

<section>
<h2>Custody timeline{{if .Invalid}} (unverified claims){{end}}</h2>
{{if .Timeline}}<table class="small timeline">
<thead><tr><th>Index</th><th>Logged (UTC)</th><th>Party</th><th>Record</th><th>Lot</th><th class="num">Mass kg</th><th class="num">Contained Sb kg</th><th>Details</th></tr></thead>
{{range .Timeline}}<tr id="{{.Anchor}}"{{if .Flagged}} class="flagged"{{end}}><td class="mono" title="{{.ID}}">#{{.Index}}<span class="screen"><br>{{.Short}}</span></td><td class="nowrap">{{.LogTime}}<br><span class="muted">event {{.EventTime}}</span></td><td class="party{{if long .Party}} longid{{end}}">{{.Party}}</td><td>{{.Kind}}</td><td{{if long .Lot}} class="longid"{{end}}>{{range $i, $l := .Lots}}{{if $i}}, {{end}}{{if long $l}}{{$l}}{{else}}<span class="nowrap">{{$l}}</span>{{end}}{{end}}</td><td class="num">{{.Mass}}{{if .MassWas}}<br><span class="was">corrected from {{.MassWas}}</span>{{end}}</td><td class="num">{{.Sb}}{{if .SbWas}}<br><span class="was">corrected from {{.SbWas}}</span>{{end}}</td><td class="what{{if long .What .Corrected .Note}} longid{{end}}">{{.What}}{{if .Corrected}}<br><strong class="corrected">Corrected</strong> {{.Corrected}}{{end}}{{if .Note}}<br><span class="muted">note: {{.Note}}</span>{{end}}</td></tr>
{{end}}</table>
<p class="small muted">"Logged" is when the log took the record; the event time is the signer's own claim. Index is the record's position in the log. Contained Sb per record is the record's mass at the lot's last declared moisture and grade; the origins above are the verifier's. Highlighted rows are evidence of a flag.</p>
{{else}}<p>The bundle holds no custody record of this lot.</p>{{end}}
</section>

<div class="figs">
<section class="graphs">
<h2>Custody graph{{if .Invalid}} (unverified claims){{end}}</h2>
{{with .Graph}}{{if .Nodes}}<figure>
<svg xmlns="http://www.w3.org/2000/svg" class="graph" viewBox="0 0 {{printf "%.0f" .W}} {{printf "%.0f" .H}}" width="{{printf "%.0f" .W}}" role="img" aria-label="custody graph">
<defs><marker id="sbr-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="#57606a"/></marker></defs>
{{range .Edges}}<path class="edge" d="{{.D}}" fill="none" stroke="#57606a" stroke-width="1.4" marker-end="url(#sbr-arrow)"/>
<text x="{{printf "%.1f" .LX}}" y="{{printf "%.1f" .LY}}" font-size="9" text-anchor="middle" fill="#57606a">{{.Label}}</text>
{{end}}{{range .Nodes}}<g class="node {{.Class}}"><title>{{.Tip}}</title>
{{if eq .Class "step"}}<rect x="{{printf "%.1f" .X}}" y="{{printf "%.1f" .Y}}" width="{{printf "%.1f" .W}}" height="{{printf "%.1f" .H}}" rx="18" fill="#ddf4ff" stroke="#0969da"/>
{{else if eq .Class "target"}}<rect x="{{printf "%.1f" .X}}" y="{{printf "%.1f" .Y}}" width="{{printf "%.1f" .W}}" height="{{printf "%.1f" .H}}" rx="4" fill="#fff8c5" stroke="#1b1f24" stroke-width="2"/>
{{else if eq .Class "other"}}<rect x="{{printf "%.1f" .X}}" y="{{printf "%.1f" .Y}}" width="{{printf "%.1f" .W}}" height="{{printf "%.1f" .H}}" rx="4" fill="#f6f8fa" stroke="#afb8c1" stroke-dasharray="4 3"/>
{{else}}<rect x="{{printf "%.1f" .X}}" y="{{printf "%.1f" .Y}}" width="{{printf "%.1f" .W}}" height="{{printf "%.1f" .H}}" rx="4" fill="#ffffff" stroke="#57606a"/>
{{end}}{{$n := .}}{{range .Lines}}<text x="{{printf "%.1f" (add $n.X 8)}}" y="{{printf "%.1f" (add $n.Y .Y)}}" font-size="{{if .Bold}}12{{else}}10{{end}}"{{if .Bold}} font-weight="bold"{{end}}>{{.Text}}</text>
{{end}}</g>
{{end}}</svg>
<figcaption class="small muted">Boxes are lots (the lot of this report in yellow, lots made alongside it dashed), with their product, last mass and holders in order; rounded boxes are transformations (split, merge, concentrate, smelt, refine) with the party that made them; arrows carry the mass consumed or produced.</figcaption>
</figure>{{else}}<p>No lots to draw.</p>{{end}}{{end}}
</section>

<section class="maps">
<h2>Route map{{if .Invalid}} (unverified claims){{end}}</h2>
{{with .Map}}{{if .Err}}<p>{{.Err}}</p>{{else}}<figure>
<svg xmlns="http://www.w3.org/2000/svg" class="map" viewBox="0 0 {{printf "%.0f" .W}} {{printf "%.0f" .H}}" width="{{printf "%.0f" .W}}" role="img" aria-label="route map">
<rect x="0" y="0" width="{{printf "%.1f" .W}}" height="{{printf "%.1f" .H}}" fill="#f6f8fa" stroke="#d0d7de"/>
{{range .Ticks}}<line x1="{{printf "%.1f" .X1}}" y1="{{printf "%.1f" .Y1}}" x2="{{printf "%.1f" .X2}}" y2="{{printf "%.1f" .Y2}}" stroke="#e1e4e8" stroke-width="0.6"/><text x="{{printf "%.1f" .LX}}" y="{{printf "%.1f" .LY}}" font-size="8" fill="#8c959f">{{.Label}}</text>
{{end}}<polyline class="corridor" points="{{.Border}}" fill="none" stroke="#ffb3b3" stroke-opacity="0.55" stroke-width="{{printf "%.2f" .CorridorW}}" stroke-linejoin="round" stroke-linecap="round"/>
<polyline class="durand" points="{{.Border}}" fill="none" stroke="#cf222e" stroke-width="1.6" stroke-dasharray="6 3"/>
{{range .Routes}}<polyline class="route" points="{{.Points}}" fill="none" stroke="#0969da" stroke-width="2.2" stroke-linejoin="round"><title>{{.Tip}}</title></polyline>
{{end}}{{range .Mines}}<g class="{{.Class}}"><title>{{.Tip}}</title><path d="M{{printf "%.1f" .X}} {{printf "%.1f" (add .Y -5)}} l5 9 h-10 z" fill="{{if eq .Class "mine"}}#8250df{{else}}#1b1f24{{end}}"/><text x="{{printf "%.1f" (add .X 7)}}" y="{{printf "%.1f" (add .Y 3)}}" font-size="9" fill="#57606a">{{.Label}}</text></g>
{{end}}{{range .Crossings}}<g class="{{.Class}}"><title>{{.Tip}}</title><rect x="{{printf "%.1f" (add .X -3.5)}}" y="{{printf "%.1f" (add .Y -3.5)}}" width="7" height="7" fill="{{if eq .Class "crossing"}}#ffffff{{else}}#cf222e{{end}}" stroke="#cf222e" stroke-width="1.4"/><text x="{{printf "%.1f" (add .X -6)}}" y="{{printf "%.1f" (add .Y 3)}}" font-size="9" text-anchor="end" fill="#cf222e">{{.Label}}</text></g>
{{end}}{{range .Places}}<g class="place {{.Class}}"><title>{{.Tip}}</title><circle cx="{{printf "%.1f" .X}}" cy="{{printf "%.1f" .Y}}" r="4" fill="#0969da" stroke="#ffffff" stroke-width="1.2"/>{{if .Label}}<text x="{{printf "%.1f" (add .X 6)}}" y="{{printf "%.1f" (add .Y -5)}}" font-size="9" fill="#0969da">{{.Label}}</text>{{end}}</g>
{{end}}</svg>
<figcaption class="small muted">Dashed red line: the simplified Afghanistan–Pakistan border (Durand line), an approximation from the repository's reference data, not a legal boundary; pink band: the {{printf "%.0f" .CorridorK}} km border corridor on either side that the BORDER_CORRIDOR rule watches; squares: border crossings (filled when a dispatch of this lot names it); triangles: reference deposits (black: fingerprint references that are not permissible sources); blue: this lot's dispatch routes and the places of its records.</figcaption>
{{if .OffMap}}<p class="small">Outside the map:</p><ul class="small">{{range .OffMap}}<li>{{.}}</li>{{end}}</ul>{{end}}
</figure>{{end}}{{end}}
</section>

<section class="small rules">
<h2>Rules run</h2>
<p class="printonly">{{if .Invalid}}Not reached, verification failed: {{range $i, $r := .Rules}}{{if $i}}, {{end}}{{$r.ID}}{{end}}.{{else}}{{range .Rules}}{{if or .Fired .Corrected}}{{.ID}} ({{.Severity}}): {{if .Fired}}<strong>{{.Fired}} flag(s)</strong>{{end}}{{if .Corrected}}{{if .Fired}}, {{end}}{{.Corrected}} corrected, not counted{{end}}. {{end}}{{end}}{{if .Unfired}}No flag: {{range $i, $r := .Unfired}}{{if $i}}, {{end}}{{$r.ID}}{{end}}.{{end}}{{end}}</p>
<table class="screen">
<tr><th>Rule</th><th>Up to</th><th class="desc">What it flags</th><th class="num">Flags</th></tr>
{{range .Rules}}<tr><td>{{.ID}}</td><td>{{.Severity}}</td><td class="desc">{{.Description}}</td><td class="num">{{if $.Invalid}}–{{else}}{{.Fired}}{{if .Corrected}} (+{{.Corrected}} corrected){{end}}{{end}}</td></tr>
{{end}}</table>
</section>

<section class="small glossary">
<h2>Glossary</h2>
<dl class="kv screen">
{{range .Glossary}}<dt>{{.Name}}</dt><dd>{{.Definition}}</dd>
{{end}}</dl>
<p class="printonly">{{range $i, $t := .Glossary}}{{if $i}} {{end}}<strong>{{$t.Name}}</strong>: {{$t.Short}}{{end}}</p>
</section>
</div>




</article>
{{end}}
`))
