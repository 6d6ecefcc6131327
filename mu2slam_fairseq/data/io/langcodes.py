"""Language codes the validator accepts.

A code is a base language, optionally followed by ``-`` or ``_`` subtags: a region
(``zh-CN``, ``pt-br``, ``es_419``), a script (``cmn_hans_cn``, ``zh-Latn``) or a known
variant (Common Voice's ``rm-sursilv``). Base languages are every ISO 639-1 code, the ISO
639-2/3 codes of the same languages (``deu``, ``ger``), the ISO 639-3 codes that speech and
text corpora use for languages without a two-letter code (FLEURS ``cmn``, ``yue``, ``ceb``;
Common Voice ``kab``, ``cnh``; mC4 ``fil``, ``haw``, ``und``) and the withdrawn two-letter
codes still found in the wild (mC4's ``iw``). Base codes must be lower case.
"""

from typing import Iterable, Optional

ISO_639_1 = frozenset(
    """
    aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv
    cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho
    hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku
    kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn
    no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg sh si sk sl
    sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve
    vi vo wa wo xh yi yo za zh zu
""".split()
)
ISO_639_3_OF_639_1 = frozenset(
    """
    aar abk afr aka amh ara arg asm ava ave aym aze bak bam bel ben bis bod bos bre bul cat
    ces cha che chu chv cor cos cre cym dan deu div dzo ell eng epo est eus ewe fao fas fij
    fin fra fry ful gla gle glg glv grn guj hat hau hbs heb her hin hmo hrv hun hye ibo ido
    iii iku ile ina ind ipk isl ita jav jpn kal kan kas kat kau kaz khm kik kin kir kom kon
    kor kua kur lao lat lav lim lin lit ltz lub lug mah mal mar mkd mlg mlt mon mri msa mya
    nau nav nbl nde ndo nep nld nno nob nor nya oci oji ori orm oss pan pli pol por pus que
    roh ron run rus sag san sin slk slv sme smo sna snd som sot spa sqi srd srp ssw sun swa
    swe tah tam tat tel tgk tgl tha tir ton tsn tso tuk tur twi uig ukr urd uzb ven vie vol
    wln wol xho yid yor zha zho zul alb arm baq bur chi cze dut fre geo ger gre ice mac mao
    may per rum slo tib wel
""".split()
)
REGIONS = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
    BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ
    DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP
    GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG
    KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML
    MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE
    PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL
    SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM
    US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
""".split()
)
SCRIPTS = frozenset(
    """
    Adlm Afak Aghb Ahom Arab Aran Armi Armn Avst Bali Bamu Bass Batk Beng Bhks Blis Bopo
    Brah Brai Bugi Buhd Cakm Cans Cari Cham Cher Cirt Copt Cprt Cyrl Cyrs Deva Dsrt Dupl
    Egyd Egyh Egyp Elba Ethi Geok Geor Glag Goth Gran Grek Gujr Guru Hanb Hang Hani Hano
    Hans Hant Hatr Hebr Hira Hluw Hmng Hrkt Hung Inds Ital Jamo Java Jpan Jurc Kali Kana
    Khar Khmr Khoj Kitl Kits Knda Kore Kpel Kthi Lana Laoo Latf Latg Latn Leke Lepc Limb
    Lina Linb Lisu Loma Lyci Lydi Mahj Mand Mani Marc Maya Mend Merc Mero Mlym Modi Mong
    Moon Mroo Mtei Mult Mymr Narb Nbat Newa Nkgb Nkoo Nshu Ogam Olck Orkh Orya Osge Osma
    Palm Pauc Perm Phag Phli Phlp Phlv Phnx Piqd Plrd Prti Qaaa Qabx Rjng Roro Runr Samr
    Sara Sarb Saur Sgnw Shaw Shrd Sidd Sind Sinh Sora Sund Sylo Syrc Syre Syrj Syrn Tagb
    Takr Tale Talu Taml Tang Tavt Telu Teng Tfng Tglg Thaa Thai Tibt Tirh Ugar Vaii Visp
    Wara Wole Xpeo Xsux Yiii Zinh Zmth Zsye Zsym Zxxx Zyyy Zzzz
""".split()
)
CORPUS_639_3 = frozenset(
    """
    acm ady ajp ang apc arz ary ast bas byv cdo ceb ckb cmn cnh crh dyu fil frr grc gsw hak
    haw hmn hsb hyw kab kam kbd kea kmr knn koi kpv lij lmo ltg luo lzh mdf mhr mrj myv mzn
    nan nds nhi nso nyn pap pnb quy rif sah sat scn sco shi skr syr szl tig tok tzm udm ukv
    umb vec vot wuu yue zgh zza und mul zxx
""".split()
)
WITHDRAWN_639_1 = frozenset("iw in ji jw mo".split())
VARIANTS = frozenset("sursilv vallader".split())
NUMERIC_REGIONS = frozenset("001 150 419".split())  # UN M.49 areas used in tags (es-419)

BASE_LANGUAGES = ISO_639_1 | ISO_639_3_OF_639_1 | CORPUS_639_3 | WITHDRAWN_639_1
_REGIONS_LOWER = frozenset(r.lower() for r in REGIONS)
_SCRIPTS_LOWER = frozenset(s.lower() for s in SCRIPTS)

# Full codes seen in the corpora this project prepares; listed so the set can be shown and
# extended, although ``is_known_language`` accepts every well-formed combination anyway.
KNOWN_LANGS = set(BASE_LANGUAGES) | {
    "zh-CN",
    "zh-TW",
    "zh-HK",
    "sv-SE",
    "pt-BR",
    "pt-br",
    "zh-cn",
    "es-419",
    "es_419",
    "ga-IE",
    "hy-AM",
    "nn-NO",
    "pa-IN",
    "fy-NL",
    "ne-NP",
    "rm-sursilv",
    "rm-vallader",
    "cmn_hans_cn",
    "yue_hant_hk",
    "en_us",
    "zh-Latn",
    "ja-Latn",
    "ru-Latn",
    "bg-Latn",
    "el-Latn",
    "hi-Latn",
}


def _subtag_ok(tag: str) -> bool:
    t = tag.lower()
    return t in _REGIONS_LOWER or t in _SCRIPTS_LOWER or t in VARIANTS or t in NUMERIC_REGIONS


def is_known_language(code: str, extra: Optional[Iterable[str]] = None) -> bool:
    """True for a code in ``KNOWN_LANGS``/``extra`` or a known base with valid subtags."""
    if code in KNOWN_LANGS or (extra is not None and code in set(extra)):
        return True
    parts = code.replace("_", "-").split("-")
    return parts[0] in BASE_LANGUAGES and all(p and _subtag_ok(p) for p in parts[1:])


def suggestion(code: str) -> Optional[str]:
    """The code with a lower-case base (``EN`` -> ``en``, ``ZH-CN`` -> ``zh-CN``) if that is known."""
    base = code.replace("_", "-").split("-")[0]
    fixed = base.lower() + code[len(base) :]
    return fixed if fixed != code and is_known_language(fixed) else None
