"""A blinded user-study page (paper Fig. 16, appendix B.3) and the MOS from its exports.

`make`: for each prompt present in every method folder (matched by file stem), the videos of all
methods in a per-prompt random order under opaque names, each rated 1-5 on the paper's three
questions. The page is static: ratings are exported as a JSON download. The method behind each
opaque id is written to key.json beside the page, never into it.
`collect`: rater exports + key.json -> MOS ± 95% CI (t-distribution) per method and question.
"""

from __future__ import annotations

import html
import json
import secrets
import shutil
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.atomic import atomic_write_text
from ..io.fingerprint import file_fingerprint
from ..io.folder_output import FolderOutput
from ..io.sidefiles import read_json

QUESTIONS = (("text", "Text alignment: does the video show the described action?"),
             ("domain", "Domain consistency: does it look like the reference gymnastics?"),
             ("smooth", "Smooth stability: is the motion smooth and physically plausible?"))
VIDEO_EXTS = (".mp4", ".webm", ".gif")


def _prompt_of(video: Path) -> str:
    side = video.with_suffix(".json")
    try:
        meta = json.loads(side.read_text()) if side.is_file() else {}
    except (OSError, ValueError):
        meta = {}                        # a torn or foreign sidecar: the stem will do
    return str(meta.get("prompt") or video.stem) if isinstance(meta, dict) else video.stem


def make_study(method_dirs: list[Path], output: Path, *, seed: int = 0, title: str =
               "FinePhys user study", overwrite: bool = False) -> Path:
    if len(method_dirs) < 1:
        raise InputError("give at least one folder of generated videos")
    names = [d.name for d in method_dirs]
    if len(set(names)) != len(names):
        raise InputError("method folders must have distinct names (the folder name is the "
                         "method's name)")
    stems = []
    for d in method_dirs:
        if not Path(d).is_dir():
            raise InputError(f"{d}: not a folder")
        stems.append({p.stem: p for p in sorted(Path(d).iterdir())
                      if p.suffix.lower() in VIDEO_EXTS})
    common = sorted(set.intersection(*(set(s) for s in stems)))
    if not common:
        raise InputError("no video stem is present in every method folder")
    output = Path(output)
    folder = FolderOutput(output, command="study make", key={
        "methods": names, "seed": seed, "title": title,
        "videos": [[str(s[stem]), file_fingerprint(s[stem])] for s in stems for stem in common]},
        overwrite=overwrite)
    if folder.up_to_date:
        return output / "index.html"
    with folder.building() as tmp:
        media = tmp / "media"
        media.mkdir()
        rng = np.random.default_rng(seed)
        key: dict[str, dict] = {}
        items = []
        for stem in common:
            order = rng.permutation(len(method_dirs))
            videos = []
            for k in order:
                token = secrets.token_hex(6)
                src = stems[k][stem]
                shutil.copy2(src, media / f"{token}{src.suffix.lower()}")
                key[token] = {"method": names[k], "video": str(src)}
                videos.append({"id": token, "src": f"media/{token}{src.suffix.lower()}"})
            items.append({"item": stem, "prompt": _prompt_of(stems[0][stem]), "videos": videos})
        atomic_write_text(tmp / "index.html", render_page(title, items))
        atomic_write_text(tmp / "key.json", json.dumps(
            {"methods": names, "tokens": key, "questions": [q for q, _ in QUESTIONS]},
            indent=1))
    return output / "index.html"


def _json_for_script(data: object) -> str:
    """JSON safe inside <script>: no '</' can close the element, no '<!--' can open a comment."""
    return json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&",
                                                                                    "\\u0026")


def render_page(title: str, items: list[dict]) -> str:
    blocks = []
    for i, it in enumerate(items):
        vids = []
        for j, v in enumerate(it["videos"]):
            rows = "".join(
                f'<div class="q"><span>{html.escape(text)}</span>' + "".join(
                    f'<label><input type="radio" name="{html.escape(v["id"])}:{q}" '
                    f'value="{s}" data-video="{html.escape(v["id"])}" data-q="{q}">{s}</label>'
                    for s in range(1, 6)) + "</div>" for q, text in QUESTIONS)
            vids.append(f'<figure><video src="{html.escape(v["src"])}" controls loop muted '
                        f'playsinline width="256"></video><figcaption>Video '
                        f'{chr(65 + j)}</figcaption>{rows}</figure>')
        blocks.append(f'<section><h2>{i + 1}. {html.escape(it["prompt"])}</h2>'
                      f'<div class="row">{"".join(vids)}</div></section>')
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}.row{{display:flex;flex-wrap:wrap;gap:1em}}
figure{{border:1px solid #ccc;padding:.5em;margin:0}}.q{{font-size:.85em;margin:.3em 0}}
.q span{{display:block}}label{{margin-right:.4em}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>Rate every video from 1 (poor) to 5 (excellent) on each question. The methods are hidden and
shuffled per prompt. When done, press <b>Export ratings</b> and send the downloaded file.</p>
<p><label>Your name or id: <input id="rater" type="text"></label></p>
{"".join(blocks)}
<p><button id="export">Export ratings</button> <span id="status"></span></p>
<pre id="selftest-output" hidden></pre>
<script type="application/json" id="study-data">{_json_for_script(items)}</script>
<script>
(function() {{
  const items = JSON.parse(document.getElementById('study-data').textContent);
  function collect() {{
    const ratings = [];
    document.querySelectorAll('input[type=radio]:checked').forEach(function(el) {{
      ratings.push({{video: el.dataset.video, question: el.dataset.q, score: Number(el.value)}});
    }});
    const total = items.reduce(function(n, it) {{ return n + it.videos.length; }}, 0) * 3;
    return {{format: 'finephys.study-ratings', version: 1,
            rater: document.getElementById('rater').value, n_expected: total,
            ratings: ratings}};
  }}
  document.getElementById('export').addEventListener('click', function() {{
    const data = collect();
    document.getElementById('status').textContent =
      data.ratings.length + ' of ' + data.n_expected + ' ratings';
    const blob = new Blob([JSON.stringify(data, null, 1)], {{type: 'application/json'}});
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = 'ratings-' + (data.rater || 'anonymous') + '.json';
    document.body.appendChild(a); a.click(); a.remove();
    document.getElementById('selftest-output').textContent = JSON.stringify(data);
  }});
  if (location.hash === '#selftest') {{
    // Used by the test suite in headless Chromium: click a known pattern, then export.
    document.getElementById('rater').value = 'selftest';
    const radios = Array.from(document.querySelectorAll('input[type=radio]'));
    const groups = {{}};
    radios.forEach(function(r) {{ (groups[r.name] = groups[r.name] || []).push(r); }});
    Object.keys(groups).sort().forEach(function(name, i) {{
      groups[name][(i * 2) % 5].click();
    }});
    document.getElementById('export').click();
  }}
}})();
</script></body></html>
"""


def _add_rating(scores: dict, key: dict, r: object, path: Path, key_path: Path) -> None:
    if not isinstance(r, dict) or not {"video", "question", "score"} <= set(r):
        raise InputError(f"{path}: bad rating {r!r} (needs video, question, score)")
    token = key["tokens"].get(str(r["video"]))
    if not isinstance(token, dict) or token.get("method") not in scores:
        raise InputError(f"{path}: video id {r['video']!r} is not in {key_path}")
    try:
        score = int(r["score"])
    except (TypeError, ValueError):
        score = 0
    if r["question"] not in scores[token["method"]] or not 1 <= score <= 5:
        raise InputError(f"{path}: bad rating {r}")
    scores[token["method"]][r["question"]].append(score)


def collect_study(exports: list[Path], key_path: Path) -> dict:
    """MOS ± 95% CI per method and question over all raters' exports."""
    from scipy import stats


    key = read_json(key_path, "a study key (key.json from finephys study make)")
    if not isinstance(key, dict) or not isinstance(key.get("methods"), list) or \
            not isinstance(key.get("tokens"), dict):
        raise InputError(f"{key_path}: not a study key (needs methods and tokens)")
    scores: dict[str, dict[str, list[int]]] = {m: {q: [] for q, _ in QUESTIONS}
                                               for m in key["methods"]}
    raters = []
    for path in exports:
        data = read_json(path, "a study export (ratings JSON)")
        if not isinstance(data, dict) or data.get("format") != "finephys.study-ratings":
            raise InputError(f"{path}: not a finephys study export")
        if not isinstance(data.get("ratings"), list):
            raise InputError(f"{path}: a study export without a list of ratings")
        raters.append(data.get("rater") or Path(path).stem)
        for r in data["ratings"]:
            _add_rating(scores, key, r, path, key_path)
    table: dict[str, dict] = {}
    for method, qs in scores.items():
        table[method] = {}
        for q, vals in qs.items():
            a = np.asarray(vals, dtype=np.float64)
            if len(a) == 0:
                table[method][q] = {"mos": None, "ci95": None, "n": 0}
                continue
            half = float(stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / np.sqrt(len(a))) \
                if len(a) > 1 else float("nan")
            table[method][q] = {"mos": float(a.mean()), "ci95": half, "n": int(len(a))}
    return {"raters": raters, "mos": table}
