"""Person names: one spelling per name, and its pinyin for comparing across scripts.

Names are compared on code points and on pinyin (DESIGN.md section 5). `normalize_name` removes
the differences that do not change who is meant: traditional vs simplified characters, spaces inside
Chinese names, the many middle dots of ethnic-minority names, accents on Latin letters ('José Müller'
and an ASCII-only system's 'Jose Muller'), punctuation noise, letter case.
`name_pinyin` gives '张伟', '張 偉' and 'ZHANG WEI' the same key, 'zhangwei'.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from typing import Any

from pypinyin import Style, lazy_pinyin

from pipelines.standardize import as_text, is_placeholder

MIDDLE_DOT = "·"
RARE_CHAR = "?"
# Every character that sources use as the separator in transliterated names (买买提·艾力).
_DOT_VARIANTS = "·•‧・･.．∙⋅ˑ●。-－‐‑–—﹒"
# Readings of surnames that differ from the character's ordinary reading. Compound surnames are
# looked up before single ones.
SURNAME_PINYIN = {
    "尉迟": "yuchi",
    "万俟": "moqi",
    "长孙": "zhangsun",
    "单": "shan",
    "曾": "zeng",
    "解": "xie",
    "仇": "qiu",
    "查": "zha",
    "朴": "piao",
    "区": "ou",
    "盖": "ge",
    "覃": "qin",
    "秘": "bi",
    "乐": "yue",
    "种": "chong",
    "缪": "miao",
    "翟": "zhai",
    "召": "shao",
    "繁": "po",
    "员": "yun",
    "沈": "shen",
    "折": "she",
    "过": "guo",
    "阚": "kan",
    "句": "gou",
    "眭": "sui",
    "华": "hua",
    "任": "ren",
    "纪": "ji",
    "宓": "mi",
    "隗": "wei",
    "啜": "chuai",
    "禚": "zhuo",
}
_COMPOUND_SURNAMES = frozenset(s for s in SURNAME_PINYIN if len(s) == 2)
_CJK = r"\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_HAS_CJK = re.compile(f"[{_CJK}]")
_BRACKETED = re.compile(r"[(\[【（［<《][^)\]】）］>》]*[)\]】）］>》]")
# Private-use characters, '□' and U+FFFD are how legacy systems write characters they lack.
_UNKNOWN_CHAR = re.compile(r"[\ue000-\uf8ff□\ufffd]")
_CHINESE_NOISE = re.compile(r"[^\w?· ]|[\d_]")
_LATIN_NOISE = re.compile(r"[^\w?' -]|[\d_]")
_SPACES = re.compile(r"\s+")
_SPACE_NOT_BETWEEN_LATIN = re.compile(r"(?<=[^A-Za-zÀ-ɏ'\-]) | (?=[^A-Za-zÀ-ɏ'\-])")
_REPEATED_DOTS = re.compile(f"{MIDDLE_DOT}+")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_PINYIN_SEPARATORS = re.compile(r"[\s·.'\-]")
_LATIN_LETTERS = re.compile(r"[^a-zà-ɏ]")
# Latin letters that Unicode does not decompose into a base letter and an accent, written as
# ASCII-only systems and passports' machine-readable zones write them.
_UNDECOMPOSABLE_LATIN = {
    "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "ħ": "h", "Ħ": "H",
    "ı": "i", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "þ": "th", "Þ": "TH", "ß": "ss", "ẞ": "SS",
}  # fmt: skip
_converter: Any = None


def normalize_name(raw: object) -> str | None:
    """Write a person's name in one canonical form.

    Chinese names are converted to simplified characters with their inner spaces removed and any
    separator dot written '·'; Latin names are upper-cased without accents ('Müller' → 'MULLER',
    'Łukasz' → 'LUKASZ'), with single spaces between words and dots turned into spaces. Brackets
    with their content ('(已故)'), digits and punctuation go; '?' (the usual stand-in for a character
    the system lacks) stays.

    Args:
        raw: The source value; None, NaN and NA give None.

    Returns:
        The canonical name, or None when it is empty, a placeholder ('无', '不详', 'NULL') or
        nothing but '?'.
    """
    text = as_text(raw)
    return None if text is None else _normalize_text(text)


def name_pinyin(name: str | None) -> str | None:
    """Spell a name in lower-case toneless pinyin without separators, for comparison.

    Each character is looked up once (per-character cache) and the surname's reading comes from
    SURNAME_PINYIN. Latin letters are kept lower-cased, so 'ZHANG WEI' and '张伟' give the same key.

    Args:
        name: A name, ideally already passed through `normalize_name`.

    Returns:
        For example 'zhangwei' for '张伟' and 'shanxiong' for '单雄'; None when nothing is left.
    """
    if not name:
        return None
    return _pinyin_of(name) or None


def is_pinyin_only(name: str | None) -> bool:
    """Tell whether a name is written in pinyin instead of Chinese characters.

    Args:
        name: A name, normalized or not.

    Returns:
        True when the name has letters, all of them Latin, and every word splits into pinyin
        syllables ('ZHANG WEI', 'Zhangwei'); False for Chinese names and for names such as
        'JOHN SMITH'.
    """
    return _is_pinyin_text(name) if name else False


@lru_cache(maxsize=1 << 17)
def _normalize_text(text: str) -> str | None:
    text = unicodedata.normalize("NFKC", text)
    if is_placeholder(text):
        return None
    text = _UNKNOWN_CHAR.sub(RARE_CHAR, _BRACKETED.sub("", text))
    has_cjk = _HAS_CJK.search(text)
    name = _chinese_form(_to_simplified(text)) if has_cjk else _latin_form(text)
    return name if name.strip(RARE_CHAR + MIDDLE_DOT) else None


def _chinese_form(text: str) -> str:
    text = _CHINESE_NOISE.sub("", text.translate(_DOTS_TO_MIDDLE_DOT))
    text = _SPACE_NOT_BETWEEN_LATIN.sub("", _SPACES.sub(" ", text).strip())
    return _REPEATED_DOTS.sub(MIDDLE_DOT, text).strip(MIDDLE_DOT + " ").upper()


def _latin_form(text: str) -> str:
    text = "".join(_latin_base_letter(ch) for ch in text.translate(_DOTS_TO_SPACE))
    text = _LATIN_NOISE.sub("", text)
    return _SPACES.sub(" ", text).strip(" -'").upper()


@cache
def _latin_base_letter(char: str) -> str:
    """A Latin letter without its accents ('é' → 'e'); letters of other scripts stay as they are."""
    if char.isascii():
        return char
    if char in _UNDECOMPOSABLE_LATIN:
        return _UNDECOMPOSABLE_LATIN[char]
    base = unicodedata.normalize("NFD", char)[0]
    return base if base.isascii() and base.isalpha() else char


def _to_simplified(text: str) -> str:
    global _converter
    if _converter is None:
        import opencc

        _converter = opencc.OpenCC("t2s")
    return str(_converter.convert(text))


@lru_cache(maxsize=1 << 17)
def _pinyin_of(name: str) -> str:
    surname = name[:2] if name[:2] in _COMPOUND_SURNAMES else name[:1]
    head = SURNAME_PINYIN.get(surname)
    if head is None:
        head, surname = "", ""
    return head + "".join(_char_pinyin(ch) for ch in name[len(surname) :])


@cache
def _char_pinyin(char: str) -> str:
    if _HAS_CJK.match(char):
        reading = lazy_pinyin(char, style=Style.NORMAL, errors="ignore")
        return reading[0] if reading else ""
    return _LATIN_LETTERS.sub("", char.lower())


@lru_cache(maxsize=1 << 14)
def _is_pinyin_text(name: str) -> bool:
    words = _LATIN_WORD.findall(name)
    if not words or "".join(words) != _PINYIN_SEPARATORS.sub("", name):
        return False
    return all(_splits_into_syllables(word.lower()) for word in words)


def _splits_into_syllables(word: str) -> bool:
    """Tell whether the word is a sequence of pinyin syllables (longest syllable: 6 letters)."""
    syllables = _pinyin_syllables()
    reachable = [True] + [False] * len(word)
    for end in range(1, len(word) + 1):
        starts = range(max(0, end - 6), end)
        reachable[end] = any(reachable[s] and word[s:end] in syllables for s in starts)
    return reachable[-1]


@cache
def _pinyin_syllables() -> frozenset[str]:
    from pypinyin.contrib.tone_convert import to_normal
    from pypinyin.pinyin_dict import pinyin_dict

    readings = {to_normal(r) for value in pinyin_dict.values() for r in value.split(",")}
    # Syllables without a vowel ('m', 'ng', 'hm') are interjections, not name syllables; 'lyu' and
    # 'lue' are how passports and casual writing spell lü and lüe.
    usable = {r for r in readings if r.isascii() and any(v in r for v in "aeiouv")}
    return frozenset(usable | {"lyu", "nyu", "lue", "nue"})


_DOTS_TO_MIDDLE_DOT = str.maketrans({ch: MIDDLE_DOT for ch in _DOT_VARIANTS})
_DOTS_TO_SPACE = str.maketrans({ch: " " for ch in _DOT_VARIANTS.replace("-", "")})
