"""Guide: the story of in-situ model downloading in eleven steps, for a class or a presentation. Next / Back (buttons
or the ← → keys), one headline, one live chart, the preset that makes the step's point and the paper's claim with
a verdict. The step is in the URL (``?step=3``), so a link opens it. The steps and their numbers come from
app.story (the engine, through app.services)."""
import streamlit as st
from streamlit.errors import StreamlitAPIException

from app import export, glossary, present, services, story
from app.controls import load_settings
from app.settings import SCENARIOS, apply_scenario, cut

STEP = "story_step"      # index of the current step (survives page changes)
STEP_PARAM = "step"      # the step's number (1..N) in the URL
STEP_PROBLEM = "story_step_problem"
JUMP = "w_story_jump"
REPORT = "story_report"  # (settings, html) of the last prepared report
TALLY = "story_tally"    # (settings, sentence) of the last count of the paper's claims (the page's lead)
VERDICT_BOX = {story.HOLDS: (st.success, "Holds"), story.CONDITIONAL: (st.warning, "Holds with a caveat"),
               story.DOES_NOT_HOLD: (st.error, "Does not hold here")}
N = len(story.STEPS)
SLIDE_CHART_PX = 600     # presenter view: the chart's height, so that it ends above a 1080-pixel screen's edge


def _go(delta: int) -> None:
    st.session_state[STEP] = min(max(st.session_state.get(STEP, 0) + delta, 0), N - 1)
    st.session_state.pop(STEP_PROBLEM, None)


def _jump() -> None:
    if st.session_state[JUMP] is not None:  # clicking the current step again deselects it: stay
        st.session_state[STEP] = int(st.session_state[JUMP]) - 1
        st.session_state.pop(STEP_PROBLEM, None)


def _step_from_url() -> int:
    """The first visit of a session opens the link's ``?step=N``; a value that is not a step is reported by name
    (and the story starts at step 1)."""
    raw = st.query_params.get(STEP_PARAM)
    if raw is None:
        return 0
    if str(raw).strip().isdigit() and 1 <= int(raw) <= N:
        return int(raw) - 1
    st.session_state[STEP_PROBLEM] = (f"step={cut(raw)!r} in the link is not a step of this story; allowed: a "
                                      f"whole number from 1 to {N}. Showing step 1.")
    return 0


def _use_preset(key: str) -> None:
    load_settings(apply_scenario(key))  # runs before the sidebar is drawn: every control shows the preset


def _link(page: str, label: str) -> None:
    try:
        st.page_link(page, label=label, icon=":material/arrow_forward:")
    except StreamlitAPIException:  # the page is not in this build's navigation
        st.caption(f"See the {label.removeprefix('Go deeper: ')} page.")


s = services.settings()
if STEP not in st.session_state:
    st.session_state[STEP] = _step_from_url()
index = min(max(int(st.session_state[STEP]), 0), N - 1)
step = story.STEPS[index]
if st.query_params.get(STEP_PARAM) != str(index + 1):
    st.query_params[STEP_PARAM] = str(index + 1)  # Back, Next and the keys keep the link on the step shown

if not present.is_on():  # a slide has no room for the page title: the step's own heading says where we are
    st.title("Guide: in-situ model downloading in eleven steps")
    # The page's result in one sentence: the last step's count of the paper's claims for these settings. It needs
    # every step's numbers: counted here (once per settings, about a second) when this root's measured values ship
    # beside it; for another root each step measures its own (minutes), so the count waits for the last step.
    tally = st.session_state.get(TALLY)
    if (tally is None or tally[0] != s) and services.shipped_story_values(s.model) is not None:
        try:
            tally = (s, story.card("verdicts", s).headline)
        except ValueError as err:  # a setting some step refuses: the steps themselves say which
            tally = (s, f"The paper's claims cannot all be checked for the current settings: {err}")
        st.session_state[TALLY] = tally
    st.markdown(f"**{tally[1]}**" if tally is not None and tally[0] == s else
                f"**The last of the {N} steps counts how many of the paper's claims hold for this root model; its "
                "measured values do not ship with it, so each step measures its own when opened.**")
    st.caption("Step through with **Next** and **Back** or the **→** and **←** keys. Each step sets up its point "
               "with a preset (it changes the sidebar) and measures it live on this app's root model. For a "
               "projector: turn on the presenter view, or open this page with `?present=1`.")

if st.session_state.get(STEP_PROBLEM):
    st.warning(st.session_state[STEP_PROBLEM])

# One row that sizes Back and Next to their words (never cut to "B…" on a 1500-pixel projector) and gives the step
# numbers the rest; it wraps rather than squeezes on a narrow window.
with st.container(horizontal=True, vertical_alignment="center", key="story_nav"):
    st.button("Back", key="story_back", icon=":material/arrow_back:", on_click=_go, args=(-1,), disabled=index == 0,
              shortcut="Left", width="content")
    st.session_state[JUMP] = index + 1
    st.segmented_control("Step", list(range(1, N + 1)), key=JUMP, on_change=_jump, label_visibility="collapsed",
                         format_func=lambda i: str(i), width="stretch")
    st.button("Next", key="story_next", icon=":material/arrow_forward:", icon_position="right", on_click=_go,
              args=(1,), disabled=index == N - 1, shortcut="Right", type="primary", width="content")
    present.toggle(st, key="w_presenter_guide")

# In presenter view the step's title, its words (a tooltip) and its preset share one row, and the headline is a
# size smaller, so that the chart fits a 1080-pixel-high screen without scrolling (tests/browser/test_story.py).
slide = present.is_on()
has_preset = step.preset is not None and step.preset in SCENARIOS
title_col, preset_col = st.columns([3, 1], vertical_alignment="center") if slide and has_preset else (st, st)
title_col.header(f"{index + 1}. {step.title}", anchor=f"step-{step.key}",
                 help=glossary.tip(*step.terms) if slide else None)
if not slide:
    st.markdown(f"Words on this step: *{' · '.join(step.terms)}*", help=glossary.tip(*step.terms))

if has_preset:
    scenario = SCENARIOS[step.preset]
    in_use = s == apply_scenario(step.preset)
    p1, p2 = (preset_col, None) if slide else st.columns([2, 5], vertical_alignment="center")
    p1.button(f"Use the preset: {scenario.title}" + (" (in use)" if in_use else ""), key=f"story_preset_{step.key}",
              on_click=_use_preset, args=(step.preset,), icon=":material/tune:", disabled=in_use,
              help=f"Why this preset: {step.why_preset}. {scenario.story}" if slide else scenario.story)
    if p2 is not None:
        p2.caption(f"Why this preset: {step.why_preset}.")

try:
    card = story.card(step.key, s)
except ValueError as err:  # a setting the engine refuses for this step: said plainly, the story goes on
    card = story.Card(f"This step cannot be computed for the current settings: {err}", problem=str(err))

st.markdown(f"{'####' if slide else '###'} {card.headline}")
if step.key == "verdicts" and not card.problem:
    st.session_state[TALLY] = (s, card.headline)  # the page's lead, counted now
present.remember("headline", "text", f"{index + 1}. {step.title}", card.headline)
if card.problem:
    st.warning(card.problem)
if card.figure is not None:
    present.chart(card.figure, key=f"story_chart_{step.key}", name=f"step{index + 1}_{step.key}",
                  height=SLIDE_CHART_PX if slide else None)
if card.html:
    st.iframe(card.html, height=SLIDE_CHART_PX if slide else 520)
    if card.html_offline:
        present.remember("map", "html", "Map", card.html_offline)
    st.caption("Map: the first users' paths; a ring where each download started and a dot where it finished "
               "(legend on the map). Streets are drawn from the area data: no internet needed.")
if card.facts:
    for col, fact in zip(st.columns(len(card.facts)), card.facts):
        present.metric(col, fact.label, fact.value, help=fact.help or None)
if card.verdict is not None:
    box, word = VERDICT_BOX[card.verdict.kind]
    present.remember("verdict", "text", f"{word}", f"The paper: {card.verdict.claim} Here: {card.verdict.finding}")
    box(f"**{word}.** *The paper:* {card.verdict.claim}  \n*Here:* {card.verdict.finding}",
        icon=":material/check_circle:" if card.verdict.kind == story.HOLDS else ":material/info:")
if step.key == "verdicts" and card.table is not None:
    for row in card.table.itertuples(index=False):  # the recap as cards, readable on a projector
        box, word = VERDICT_BOX[row.verdict]
        box(f"**{row.step}: {word.lower()}.** {row.here}")
    present.remember("claims", "table", "The claims", card.table)
if card.note:
    st.caption(card.note)
if card.table is not None and not present.is_on() and step.key != "verdicts":
    with st.expander("The numbers behind this step"):
        present.table(card.table, "The numbers behind this step", hide_index=True, width="stretch",
                      key=f"story_table_{step.key}")
if step.page:
    _link(step.page, "Go deeper: " + {"views/rates.py": "Rate requirements", "views/submodels.py": "Sub-models",
                                       "views/live.py": "Live accuracy", "views/library.py": "AI library",
                                       "views/mobility.py": "Predictive downloads"}[step.page])

if not present.is_on():
    with st.expander("Glossary: the words this app uses"):
        for term, text in glossary.TERMS.items():
            st.markdown(f"**{term}**: {text}")
    with st.expander("Export: slide images and reports"):
        present.format_choice()
        present.report_button(f"Guide, step {index + 1}: {step.title}", s)
        st.caption("Every chart's camera icon (top right of the chart) saves it as a 1920x1080 image for a slide, "
                   "drawn by your browser: nothing is sent anywhere.")
        if st.button("Prepare the report of all eleven steps", key="story_prepare",
                     help="Computes every step for the current settings (the first time can take minutes)"):
            with st.spinner("Computing every step…"):
                sections = [(f"{st_.title}", story.card(st_.key, s)) for st_ in story.STEPS]
                st.session_state[REPORT] = (s, export.report_html("In-situ model downloading: the story", s,
                                                                  sections))
        prepared = st.session_state.get(REPORT)
        if prepared is not None and prepared[0] == s:
            st.download_button("Download the whole story as a report (HTML, opens offline)", prepared[1],
                               "in_situ_story_report.html", "text/html", key="story_report_download",
                               on_click="ignore")
        elif prepared is not None:
            st.caption("The settings changed since the report was prepared: prepare it again.")
