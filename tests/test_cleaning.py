"""The 20 Newsgroups and AG News cleaners, on messages written here (no data mirror)."""

from __future__ import annotations

import pytest

from workbench.data import clean_news_snippet, clean_newsgroup_message

MESSAGE = "\n".join(
    [
        "From: ann@example.org (Ann)",
        "Subject: Re: RE: re:  Orbital decay of LEO satellites",
        "Organization: Example University",
        "Lines: 12",
        "",
        "In article <1@example.org>, bob@example.org (Bob) writes:",
        "> Do they fall within a year?",
        "|  quoted with a bar",
        "Drag decides it:   the lower the orbit,",
        "the sooner it decays.",
        "begin 644 picture.gif",
        "M1TE&.#EA-P`W`/<``````(```````(``@(``@(````@@`(``@`(`@(`@`(``@",
        "-- ",
        "Ann, who writes signatures",
    ]
)


def test_newsgroup_message_keeps_the_subject_and_the_authors_own_lines():
    assert clean_newsgroup_message(MESSAGE) == (
        "Orbital decay of LEO satellites Drag decides it: the lower the orbit, the sooner it decays. "
        "begin 644 picture.gif"
    )


def test_newsgroup_message_finds_its_line_break():
    # The mirror's train split has TABs for line breaks; a trailing LF must not fool the detection.
    tabbed = MESSAGE.replace("\n", "\t") + "\n"
    assert clean_newsgroup_message(tabbed) == clean_newsgroup_message(MESSAGE)
    assert clean_newsgroup_message(tabbed, line_break="\t") == clean_newsgroup_message(MESSAGE, line_break="\n")
    # Told the wrong separator, nothing splits: no header ends, so no subject and no body.
    assert clean_newsgroup_message(MESSAGE, line_break="\t") == ""
    # A TAB inside a line of an LF message (a table) is not its line break.
    table = MESSAGE.replace("Drag decides it:", "Drag\tdecides it:")
    assert clean_newsgroup_message(table) == clean_newsgroup_message(MESSAGE)
    with pytest.raises(ValueError, match="line_break must be a non-empty string"):
        clean_newsgroup_message(MESSAGE, line_break="")


def test_newsgroup_message_edge_cases():
    assert clean_newsgroup_message("") == ""
    assert clean_newsgroup_message("Subject: only a subject") == "only a subject"  # no empty line: all headers
    assert clean_newsgroup_message("Subject: hello\n\n--\nsig") == "hello"
    # Lines of exactly 40 characters without spaces are words, not an encoded file.
    word = "x" * 40
    assert clean_newsgroup_message(f"Subject: s\n\n{word}\n{word}y") == f"s {word}"


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("Oil hits record #36;50 AP - Crude oil\\prices rose", "Oil hits record $50 Crude oil prices rose"),
        ("Fed raises rates (Reuters) Reuters - The Fed raised", "Fed raises rates The Fed raised"),
        ("IBM sells PC unit &lt;IBM.N&gt; to Lenovo (Forbes.com)", "IBM sells PC unit to Lenovo"),
        ("Kerry#39;s quot;planquot; amp; AFP - more", 'Kerry\'s "plan" & more'),
        ("Dow &amp; Nasdaq (CBS.MW) gain", "Dow & Nasdaq gain"),  # an entity with its '&' stays one entity
        ("AP sells APs (AP)", "AP sells APs"),  # "AP" as a word stays; only the credits go
    ],
)
def test_news_snippet(raw, clean):
    assert clean_news_snippet(raw) == clean
