"""Text cleaners for the corpora the clustering notebook uses: 20 Newsgroups messages and AG News snippets.

Left in, mail headers, quoted replies and signatures let clusters form around
posters and organisations instead of topics; news-agency credits pull AG News
clusters towards agencies (Reuters writes much of the business news, AP much
of the rest).  Both cleaners return the text on one line, spaces collapsed.

Example
-------
>>> from workbench.data.cleaning import clean_news_snippet
>>> clean_news_snippet("Stocks rise (Reuters) Reuters - Apple &lt;AAPL.O&gt; shares rose.")
'Stocks rise Apple shares rose.'
"""

from __future__ import annotations

import html
import re

__all__ = ["clean_newsgroup_message", "clean_news_snippet"]

#: The line introducing a quote: "... writes:", "In article <...>, X wrote:", "Y said in:".
QUOTE_INTRO = re.compile(r"(writes|wrote|says|said)( in)?:\s*$", re.IGNORECASE)
#: Lines at least this long without a single space are a file posted as text (uuencoded pictures and such).
ENCODED_LINE = 40
#: News-agency credits and stock tickers: "(Reuters)", "AP - ", "(CBS.MW)", "(Forbes.com)", "<AAPL.O>".
CREDIT = re.compile(r"\((?:Reuters|AP|AFP|CP|CBS\.MW|[\w.]+\.com)\)|\b(?:Reuters|AP|AFP)\s+-\s+|<[A-Z.]+>")
#: HTML entities whose '&' was lost on the way into AG News ("#39;", "quot;").
BARE_ENTITY = re.compile(r"(?<!&)(#\d+;|quot;|amp;|lt;|gt;)")


def clean_newsgroup_message(text: str, line_break: str | None = None) -> str:
    """The Subject line and the author's own text of a 20 Newsgroups message, on one line.

    Kept: the Subject (``Re:`` prefixes dropped) and the body.  Dropped:
    every other header, quoted lines (``>`` or ``|`` in front) and the line
    introducing them ("... writes:"), the signature after a ``--`` line, and
    lines of files posted as text (long, without a space).

    Parameters
    ----------
    text
        The whole message, headers included (as ``load_dataset("20newsgroups")`` gives it).
    line_break
        What separates its lines.  None: the first LF or TAB in the message.
        The mirror's train split has its line breaks turned into TABs (its
        test split and the upstream archive keep LFs), and every message
        starts with a one-line header, so the first of the two is the one.

    Example
    -------
    >>> message = "From: a@b.c\\nSubject: Re: re: Orbit\\n\\nThe orbit decays.\\n> you wrote\\n-- \\nAnn"
    >>> clean_newsgroup_message(message)
    'Orbit The orbit decays.'
    >>> clean_newsgroup_message(message.replace("\\n", "\\t"))
    'Orbit The orbit decays.'
    """
    if line_break is None:
        first = re.search(r"[\n\t]", text)
        line_break = first.group() if first else "\n"
    elif not line_break:
        raise ValueError("line_break must be a non-empty string (or None to find it), got ''")
    head, _, body = text.partition(line_break * 2)  # the headers end at the first empty line
    subject = next((line[len("Subject:") :] for line in head.split(line_break) if line.startswith("Subject:")), "")
    kept = [re.sub(r"^\s*(re:\s*)*", "", subject, flags=re.IGNORECASE)]
    for line in body.split(line_break):
        if line.rstrip() == "--":  # the signature follows
            break
        if line.lstrip().startswith((">", "|")) or QUOTE_INTRO.search(line):
            continue
        if len(line) > ENCODED_LINE and " " not in line.strip():
            continue
        kept.append(line)
    return " ".join(" ".join(kept).split())


def clean_news_snippet(text: str) -> str:
    """An AG News snippet without entity remains, line-break backslashes, agency credits and tickers.

    Example
    -------
    >>> clean_news_snippet("Oil hits record #36;50 AP - Crude oil\\\\prices (AFP) rose &lt;CL.N&gt;")
    'Oil hits record $50 Crude oil prices rose'
    """
    text = BARE_ENTITY.sub(r"&\1", text)
    text = CREDIT.sub(" ", html.unescape(text).replace("\\", " "))
    return " ".join(text.split())
