"""What a request cost: the :class:`Usage` value, kept apart so every layer can use it."""

from __future__ import annotations

import attrs

__all__ = ["Usage", "money_repr"]


def money_repr(amount: float | None) -> str:
    """How a sum of money shows in a repr: rounded to 6 decimals (the value is kept exact).

    Example:
        >>> money_repr(0.1 + 0.2), money_repr(None), money_repr(81_900.0)
        ('0.3', 'None', '81900.0')
    """
    return "None" if amount is None else repr(round(amount, 6))


@attrs.frozen(kw_only=True)
class Usage:
    """What a request cost, as far as the API reported it.

    Attributes:
        credits_used: AI/ML API credits (``x-aimlapi-credits-used`` or ``credits_used``).
        usd_spent: US dollars (``x-aimlapi-usd-spent`` or ``usd_spent``).
        tokens_used: Tokens, on models that still report them.

    Example:
        >>> import nanobanana as nb
        >>> from nanobanana.testing import FakeServer
        >>> with FakeServer(usd_per_image=0.039) as server, nb.Client(
        ...     api_key=server.api_key, base_url=server.url
        ... ) as client:
        ...     print(client.generate("a red kite", num_images=2).usage.usd_spent)
        0.078

        A repr shows money rounded to 6 decimals; the attributes keep the exact sums:

        >>> usage = nb.Usage(usd_spent=0.1 + 0.2)
        >>> usage, usage.usd_spent
        (Usage(credits_used=None, usd_spent=0.3, tokens_used=None), 0.30000000000000004)
    """

    credits_used: float | None = attrs.field(default=None, repr=money_repr)
    usd_spent: float | None = attrs.field(default=None, repr=money_repr)
    tokens_used: float | None = None
