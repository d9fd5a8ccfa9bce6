"""Name tables for the synthetic residents: our own, so no name-generator dependency.

Every Han character used in a generated name has an entry in ``HAN_CHARACTERS`` with its
toneless pinyin, its traditional form and a few same-sound characters that data-entry staff
type by mistake. Surname weights follow the published national frequencies (per mille, with
Hubei's 熊, 胡, 余, 涂, 喻 a little higher), so that 张伟/王芳-type collisions happen at the
rate they do in real registers.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

# surname  pinyin  traditional ('-' = same)  weight in per mille
_SURNAME_TABLE = """
王 wang - 71.2|李 li - 70.6|张 zhang 張 68.3|刘 liu 劉 53.8|陈 chen 陳 45.3|杨 yang 楊 30.8
黄 huang 黃 24.4|赵 zhao 趙 22.9|吴 wu 吳 20.0|周 zhou - 19.3|徐 xu - 15.0|孙 sun 孫 14.6
马 ma 馬 13.1|朱 zhu - 12.6|胡 hu - 13.0|郭 guo - 11.8|何 he - 11.6|林 lin - 11.4|高 gao - 11.1
罗 luo 羅 10.6|郑 zheng 鄭 10.0|梁 liang - 9.6|谢 xie 謝 8.5|宋 song - 8.2|唐 tang - 8.0
许 xu 許 7.5|韩 han 韓 7.2|邓 deng 鄧 7.0|冯 feng 馮 7.0|曹 cao - 6.8|彭 peng - 6.6|曾 zeng - 6.2
肖 xiao - 6.0|田 tian - 5.8|董 dong - 5.4|潘 pan - 5.2|袁 yuan - 5.2|蔡 cai - 5.0|蒋 jiang 蔣 5.0
余 yu - 5.5|于 yu - 4.8|杜 du - 4.6|叶 ye 葉 4.5|程 cheng - 4.5|魏 wei - 4.3|苏 su 蘇 4.2
吕 lv 呂 4.0|丁 ding - 4.0|任 ren - 4.0|卢 lu 盧 3.9|姚 yao - 3.8|沈 shen - 3.8|钟 zhong 鍾 3.7
姜 jiang - 3.6|崔 cui - 3.3|谭 tan 譚 3.2|陆 lu 陸 3.2|范 fan - 3.1|汪 wang - 3.1|廖 liao - 3.0
石 shi - 3.0|金 jin - 2.9|韦 wei 韋 2.8|贾 jia 賈 2.8|夏 xia - 2.7|付 fu - 2.6|方 fang - 2.6
邹 zou 鄒 2.5|熊 xiong - 4.0|白 bai - 2.4|孟 meng - 2.3|秦 qin - 2.3|邱 qiu - 2.3|侯 hou - 2.2
江 jiang - 2.2|尹 yin - 2.1|薛 xue - 2.0|闫 yan 閆 2.0|段 duan - 1.9|雷 lei - 1.9|龙 long 龍 1.8
黎 li - 1.8|史 shi - 1.8|陶 tao - 1.7|贺 he 賀 1.7|毛 mao - 1.6|郝 hao - 1.6|顾 gu 顧 1.5
龚 gong 龔 1.5|邵 shao - 1.4|万 wan 萬 1.8|涂 tu - 1.2|喻 yu - 1.0|聂 nie 聶 1.0|柯 ke - 0.8
单 shan 單 0.3|解 xie - 0.2|查 zha - 0.2|欧阳 ouyang 歐陽 0.5|司马 sima 司馬 0.1|诸葛 zhuge 諸葛 0.05
上官 shangguan - 0.05
"""

# character  pinyin  traditional ('-' = same)  same-sound characters typed by mistake ('-' = none)
_HAN_TABLE = """
伟 wei 偉 玮炜韦|强 qiang 強 蔷|磊 lei - 垒蕾|军 jun 軍 君均|勇 yong - 永泳|杰 jie 傑 洁捷
涛 tao 濤 滔韬|斌 bin - 彬滨|超 chao - 朝潮|明 ming - 鸣铭|刚 gang 剛 钢纲|平 ping - 萍苹
辉 hui 輝 晖慧|鹏 peng 鵬 朋|华 hua 華 桦骅|飞 fei 飛 菲非|鑫 xin - 新欣|波 bo - 博|宇 yu - 雨禹
浩 hao - 皓昊|凯 kai 凱 恺楷|健 jian - 建剑|俊 jun - 骏峻|帆 fan - 凡|帅 shuai 帥 -|旭 xu - 煦
宁 ning 寧 -|龙 long 龍 隆|林 lin - 琳霖|亮 liang - 靓|峰 feng - 锋枫|东 dong 東 冬栋|毅 yi - 怡益
轩 xuan 軒 宣萱|睿 rui - 瑞锐|航 hang - 杭|昊 hao - 浩皓|喆 zhe - 哲|堃 kun - 坤|翀 chong - 冲
芳 fang - 方|娜 na - 纳|敏 min - 民珉|静 jing 靜 婧靖|丽 li 麗 莉俐|艳 yan 艷 燕|娟 juan - 涓鹃
霞 xia - 侠|燕 yan - 艳雁|玲 ling - 铃龄|婷 ting - 亭庭|雪 xue - 学|慧 hui - 惠蕙|莉 li - 丽俐
红 hong 紅 虹宏|洁 jie 潔 杰|琳 lin - 林霖|颖 ying 穎 莹|倩 qian - 茜|萍 ping - 平苹|梅 mei - 玫
兰 lan 蘭 岚澜|英 ying - 瑛莹|晶 jing - 菁|璐 lu - 露|瑶 yao 瑤 遥|彤 tong - 桐|玥 yue - 月
淼 miao - 苗|建 jian - 健|志 zhi - 智|国 guo 國 果|文 wen - 雯|海 hai - -|永 yong - 勇|德 de - -
小 xiao - 晓|家 jia - 佳嘉|春 chun - 椿|新 xin - 欣鑫|立 li - 力丽|民 min - 敏|生 sheng - 升
荣 rong 榮 蓉|子 zi - 梓紫|梓 zi - 子紫|一 yi - 艺|博 bo - 波|嘉 jia - 佳家|思 si - 斯|天 tian - 田
皓 hao - 浩|雨 yu - 宇语|晨 chen - 辰|然 ran - 冉|涵 han - 晗寒|泽 ze 澤 择|辰 chen - 晨
铭 ming 銘 明|阳 yang 陽 扬洋|豪 hao - 浩|秀 xiu - 绣|桂 gui - 贵|玉 yu - 钰|淑 shu - 书|美 mei - 媚
晓 xiao 曉 小|月 yue - 悦|珍 zhen - 真贞|琴 qin - 芹|云 yun 雲 芸|凤 feng 鳳 峰|欣 xin - 馨鑫
诗 shi 詩 -|梦 meng 夢 蒙|佳 jia - 嘉家|可 ke - 珂|语 yu 語 雨|紫 zi - 子梓|心 xin - 欣|若 ruo - -
怡 yi - 仪宜|萱 xuan - 轩宣|琪 qi - 琦淇|诺 nuo 諾 -|悦 yue 悅 月|馨 xin - 欣|桐 tong - 彤
鸣 ming 鳴 明|墨 mo - 默|张 zhang 張 章|王 wang - 汪|陈 chen 陳 晨|杨 yang 楊 阳|刘 liu 劉 柳
徐 xu - 许|许 xu 許 徐|周 zhou - 州|朱 zhu - 祝诸|吴 wu 吳 武伍|黄 huang 黃 皇|程 cheng - 成
余 yu - 于俞|于 yu - 余|江 jiang - 姜|姜 jiang - 江|蒋 jiang 蔣 江|付 fu - 傅|胡 hu - 湖
"""

# Characters that old systems' character sets lack; they come out as '?' there.
RARE_CHARACTERS = frozenset("喆堃翀玥淼")

# given names by (is_male, is_modern): single characters, first and second characters of
# composed names, and whole popular given names; weights are relative within each list.
_SINGLE_GIVEN = {
    True: "伟10 强6 磊6 军6 勇5 杰5 涛5 斌4 超4 明4 刚4 平3 辉4 鹏4 华3 飞3 鑫3 波3 宇3 浩3 凯3 "
    "健3 俊3 帆2 帅2 旭2 宁2 龙2 林2 亮2 峰2 东2 毅2 轩2 睿2 航2 昊2 喆1 堃1 翀0.8",
    False: "芳10 娜7 敏7 静7 丽6 艳6 娟5 霞5 燕5 玲5 婷5 雪4 慧4 莉3 红4 洁3 琳3 颖3 倩3 萍3 "
    "梅3 兰2 英3 晶2 璐2 瑶2 彤2 玥1 淼1",
}
_FIRST_GIVEN = {
    (True, False): "建 志 国 文 海 永 德 小 俊 家 明 春 新 立 东",
    (True, True): "子 浩 宇 俊 梓 一 博 嘉 思 天 明 家 皓 雨 晨",
    (False, False): "秀 桂 玉 丽 红 海 春 淑 美 晓 小 雪 月 明",
    (False, True): "子 欣 梓 思 雨 诗 梦 佳 一 可 语 紫 心 若",
}
_SECOND_GIVEN = {
    (True, False): "国 华 军 明 平 强 伟 林 东 民 峰 生 杰 荣 刚 斌 辉 勇",
    (True, True): "轩 然 宇 涵 杰 睿 泽 航 辰 铭 博 阳 豪 晨 凯 墨",
    (False, False): "英 兰 珍 华 梅 芳 琴 霞 燕 云 红 萍 娟 凤 玲",
    (False, True): "涵 怡 萱 琪 彤 诺 瑶 婷 悦 欣 雨 馨 然 琳 桐",
}
_POPULAR_GIVEN = {
    (True, False): "建国4 建华4 国强4 志强4 建军4 建平3 文斌2 海涛3 志刚3 德明2 国华3",
    (True, True): "子轩4 浩然4 宇轩3 梓睿3 俊杰3 一鸣3 浩宇3 子墨3 宇航3 皓轩3",
    (False, False): "秀英6 桂英5 秀兰5 玉兰4 桂兰4 秀珍4 凤英3 玉珍3 丽华3 红梅3 海燕3 丽娟3",
    (False, True): "子涵5 欣怡5 梓涵4 一诺4 雨桐3 思涵3 紫涵3 诗涵3 梦琪3 雨欣3 可馨3 佳怡3",
}
# share of given names that are one character, a popular whole name, or composed
_SINGLE_SHARE = {False: 0.30, True: 0.12}
_POPULAR_SHARE = 0.20

# Uyghur and Kazakh names: given name, a middle dot, the father's given name.
MINORITY_GIVEN = {
    True: (
        "艾力",
        "买买提",
        "阿不都拉",
        "吐尔逊",
        "艾买提",
        "努尔兰",
        "依明",
        "阿里木",
        "热合曼",
        "叶尔兰",
    ),
    False: (
        "阿依古丽",
        "古丽娜尔",
        "热依拉",
        "帕提古丽",
        "迪丽努尔",
        "阿依努尔",
        "再娜甫",
        "米日古丽",
    ),
}
MIDDLE_DOT = "\u00b7"

# Foreign residents' names as their passports spell them (SURNAME GIVEN) and as Chinese systems write
# them, in the usual renderings: East Asian names family name first (SUZUKI YUI 铃木结衣, KIM MIN JUN
# 金敏俊), Western ones given name, a middle dot, family name (IVAN MARTIN 伊万·马丁).
# nationality  family-name-first?  surnames | men's given names | women's given names (LATIN 中文 …)
_FOREIGN_TABLE = """
JP yes SUZUKI 铃木 TANAKA 田中 SATO 佐藤 TAKAHASHI 高桥 WATANABE 渡边 ITO 伊藤 YAMAMOTO 山本 NAKAMURA 中村
 | ICHIRO 一郎 TARO 太郎 KENTA 健太 SHOTA 翔太 DAISUKE 大辅 HIROSHI 宏
 | YUI 结衣 SAKURA 樱 HANAKO 花子 YOKO 洋子 MISAKI 美咲 AYAKA 彩花 YUKO 优子
KR yes KIM 金 LEE 李 PARK 朴 CHOI 崔 JUNG 郑 KANG 姜 YOON 尹 HAN 韩
 | MIN_JUN 敏俊 JI_HOON 智勋 HYUN_WOO 贤宇 SEUNG_HO 承浩 DONG_HYUN 东贤 JUN_HO 俊浩
 | SO_YEON 素妍 SEO_YEON 瑞妍 JI_YOUNG 智英 MIN_JI 敏智 EUN_JI 恩智 HYE_JIN 惠珍
VN yes NGUYEN 阮 TRAN 陈 LE 黎 PHAM 范 HOANG 黄
 | VAN_MINH 文明 DUC_ANH 德英 QUANG_HUY 光辉
 | THI_LAN 氏兰 THU_HA 秋河 NGOC_ANH 玉英
WEST no SMITH 史密斯 JOHNSON 约翰逊 BROWN 布朗 MARTIN 马丁 MULLER 穆勒 GARCIA 加西亚 IVANOV 伊万诺夫
 SILVA 席尔瓦 MILLER 米勒 WILSON 威尔逊 TAYLOR 泰勒 LOPEZ 洛佩斯 PETROV 彼得罗夫 SCHMIDT 施密特
 | JOHN 约翰 DAVID 大卫 MICHAEL 迈克尔 JAMES 詹姆斯 IVAN 伊万 ALEXANDER 亚历山大 PETER 彼得 THOMAS 托马斯
 CARLOS 卡洛斯 PAUL 保罗
 | MARY 玛丽 SARAH 萨拉 EMMA 艾玛 ANNA 安娜 MARIA 玛丽亚 OLGA 奥尔加 SOPHIE 索菲 ELENA 埃莱娜 LAURA 劳拉
"""
FOREIGN_NATIONALITY_SHARES = {"JP": 0.3, "KR": 0.3, "VN": 0.1, "WEST": 0.3}


@dataclass(frozen=True)
class ForeignNames:
    """One nationality's names: Latin spelling to Chinese rendering.

    Attributes:
        family_first: the Chinese rendering puts the family name first, without a dot.
        surnames: family names.
        given: given names of men (True) and women (False).
    """

    family_first: bool
    surnames: dict[str, str]
    given: dict[bool, dict[str, str]]

    def chinese(self, surname: str, given: str) -> str:
        """The Chinese rendering of a name (铃木结衣, 伊万·马丁)."""
        family, own = self.surnames[surname], {**self.given[True], **self.given[False]}[given]
        return family + own if self.family_first else own + MIDDLE_DOT + family


def _pairs(text: str) -> dict[str, str]:
    words = text.split()
    return {latin.replace("_", " "): chinese for latin, chinese in zip(words[::2], words[1::2], strict=True)}


@functools.cache
def foreign_names() -> dict[str, ForeignNames]:
    """The foreign names the generator draws from, by nationality."""
    entries: dict[str, ForeignNames] = {}
    current: list[str] = []
    for line in _FOREIGN_TABLE.strip().splitlines():
        if not line.startswith(" ") and current:
            entries.update(_nationality(" ".join(current)))
            current = []
        current.append(line.strip())
    entries.update(_nationality(" ".join(current)))
    return entries


def _nationality(text: str) -> dict[str, ForeignNames]:
    head, men, women = text.split("|")
    code, family_first, *surnames = head.split()
    return {
        code: ForeignNames(
            family_first == "yes", _pairs(" ".join(surnames)), {True: _pairs(men), False: _pairs(women)}
        )
    }


def surname_nationality() -> dict[str, str]:
    """Each foreign family name's nationality."""
    return {surname: code for code, names in foreign_names().items() for surname in names.surnames}


@dataclass(frozen=True)
class HanCharacter:
    """One character as the generator knows it."""

    pinyin: str
    traditional: str
    homophones: str


@dataclass(frozen=True)
class NameCatalog:
    """Weighted names to draw from: display text and capitalised pinyin, index-aligned.

    Attributes:
        text: the names, e.g. ``子涵``.
        pinyin: their pinyin, e.g. ``Zihan``.
        probability: draw probability of each name, summing to one.
    """

    text: tuple[str, ...]
    pinyin: tuple[str, ...]
    probability: np.ndarray


def _rows(table: str) -> list[list[str]]:
    return [row.split() for line in table.strip().splitlines() for row in line.split("|")]


@functools.cache
def han_characters() -> dict[str, HanCharacter]:
    """Every Han character the generator writes, including surnames.

    Returns:
        Character to its pinyin, traditional form and same-sound characters.
    """
    table = {
        char: HanCharacter(pinyin, char if trad == "-" else trad, "" if same == "-" else same)
        for char, pinyin, trad, same in _rows(_HAN_TABLE)
    }
    for text, pinyin, trad, _ in _rows(_SURNAME_TABLE):
        if len(text) == 1 and text not in table:
            table[text] = HanCharacter(pinyin, text if trad == "-" else trad, "")
    return table


def to_traditional(name: str) -> str:
    """Spell a name in traditional characters where the table knows them.

    Args:
        name: a simplified-character name.

    Returns:
        The name with every known character replaced by its traditional form.
    """
    table = han_characters()
    return "".join(table[c].traditional if c in table else c for c in name)


def _pinyin_of(text: str) -> str:
    table = han_characters()
    return "".join(table[c].pinyin for c in text).capitalize()


def _weighted(spec: str) -> list[tuple[str, float]]:
    entries = []
    for token in spec.split():
        text = token.rstrip("0123456789.")
        entries.append((text, float(token[len(text) :] or 1.0)))
    return entries


def _catalog(entries: Iterable[tuple[str, str, float]]) -> NameCatalog:
    texts, pinyins, weights = zip(*entries, strict=True)
    probability = np.asarray(weights, dtype=np.float64)
    return NameCatalog(tuple(texts), tuple(pinyins), probability / probability.sum())


@functools.cache
def surname_catalog() -> NameCatalog:
    """Surnames with their national frequencies.

    Returns:
        The surname catalog; compound surnames (欧阳, 诸葛 …) are single entries.
    """
    return _catalog(
        (text, pinyin.capitalize(), float(weight)) for text, pinyin, _, weight in _rows(_SURNAME_TABLE)
    )


@functools.cache
def given_name_catalog(is_male: bool, is_modern: bool) -> NameCatalog:
    """Given names for one sex and era (born before 1980 or from 1980 on).

    Args:
        is_male: draw boys' names.
        is_modern: draw names of people born from 1980 on.

    Returns:
        Single-character, popular and composed given names, weighted so that the popular
        ones repeat often.
    """
    key = (is_male, is_modern)
    single_share = _SINGLE_SHARE[is_modern]
    composed_share = 1.0 - single_share - _POPULAR_SHARE
    firsts, seconds = _FIRST_GIVEN[key].split(), _SECOND_GIVEN[key].split()
    entries: dict[str, float] = {}
    for parts, share in (
        (_weighted(_SINGLE_GIVEN[is_male]), single_share),
        (_weighted(_POPULAR_GIVEN[key]), _POPULAR_SHARE),
        ([(a + b, 1.0) for a in firsts for b in seconds if a != b], composed_share),
    ):
        total = sum(w for _, w in parts)
        for text, weight in parts:
            entries[text] = entries.get(text, 0.0) + share * weight / total
    return _catalog((text, _pinyin_of(text), weight) for text, weight in entries.items())
