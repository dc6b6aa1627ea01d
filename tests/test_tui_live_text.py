"""LiveText: relayout only when the text's height changes, and then really grow or shrink."""

from __future__ import annotations

from textual.app import App, ComposeResult

from webchat_tui.tui.widgets.live_text import LiveText, display_rows


def test_display_rows_counts_markup_free_wrapped_rows():
    assert display_rows("[b]abc[/b]\nde", 10) == 2
    assert display_rows("[b $success]" + "x" * 25 + "[/]", 10) == 3  # 25 cells wrap into 3 rows
    assert display_rows("", 10) == 1
    assert display_rows("a\nb\nc", 0) == 3  # width unknown before the first layout


class _Host(App):
    def compose(self) -> ComposeResult:
        yield LiveText("", id="t")


async def test_live_text_grows_and_shrinks_with_its_lines():
    app = _Host()
    async with app.run_test(size=(40, 20)) as pilot:
        text = app.query_one(LiveText)
        text.set_text("one")
        await pilot.pause()
        assert text.size.height == 1
        text.set_text("one\ntwo\nthree")
        await pilot.pause()
        assert text.size.height == 3
        text.set_text("[b]uno[/b]\ndos\ntres")  # same height: no layout pass needed
        await pilot.pause()
        assert text.size.height == 3
        assert "uno" in str(text.render())
        text.set_text("x")
        await pilot.pause()
        assert text.size.height == 1
