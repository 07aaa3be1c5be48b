"""The demo business's channels and catalog: what it sells, at which price on each channel, and
the ids and product records each platform shows for it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from records import Product

SHOPIFY = "shopify"
BESTBUY = "bestbuy"
CHANNELS = (SHOPIFY, BESTBUY)
CURRENCY = {SHOPIFY: "USD", BESTBUY: "CAD"}


def money(value: Decimal | float | int) -> Decimal:
    """Round half-up to the cent, as the platforms do for display amounts."""
    return Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class CatalogItem:
    product_id: int
    sku: str
    title: str
    category: str
    price_usd: Decimal
    popularity: float
    on_bestbuy: bool

    @property
    def price_cad(self) -> Decimal:
        """Best Buy Canada list price: the USD price in CAD, ending in .99."""
        return Decimal(math.floor(float(self.price_usd) * 1.37)) + Decimal("0.99")

    def price(self, channel: str) -> Decimal:
        return self.price_cad if channel == BESTBUY else self.price_usd


_CATALOG_ROWS: tuple[tuple[str, str, str, bool], ...] = (
    # (category, title, USD price, sold on Best Buy too)
    ("Headphones", "Aria Wireless Over-Ear Headphones", "199.00", True),
    ("Headphones", "Aria Pro Noise-Cancelling Headphones", "329.00", True),
    ("Headphones", "Pulse Sport Earbuds", "89.00", True),
    ("Headphones", "Pulse Mini True Wireless Earbuds", "59.00", True),
    ("Headphones", "Studio 7 Closed-Back Headphones", "149.00", True),
    ("Headphones", "Studio 9 Open-Back Headphones", "279.00", False),
    ("Headphones", "Kids Volume-Limited Headphones", "34.99", True),
    ("Headphones", "Commuter On-Ear Headphones", "79.00", True),
    ("Headphones", "Gaming Headset with Boom Mic", "119.00", True),
    ("Headphones", "Bone Conduction Runner", "129.00", False),
    ("Speakers", "Boom Portable Bluetooth Speaker", "69.00", True),
    ("Speakers", "Boom Max Waterproof Speaker", "149.00", True),
    ("Speakers", "Hearth Smart Home Speaker", "199.00", True),
    ("Speakers", "Hearth Mini Smart Speaker", "59.00", True),
    ("Speakers", "Bookshelf Speakers (Pair)", "249.00", True),
    ("Speakers", "Tower Floorstanding Speaker", "499.00", False),
    ("Speakers", "Cinema 3.1 Soundbar", "399.00", True),
    ("Speakers", "Cinema 5.1 Soundbar System", "699.00", True),
    ("Speakers", "Wireless Subwoofer 10in", "349.00", True),
    ("Speakers", "Shower Speaker", "29.99", False),
    ("Turntables", "Vinyl One Belt-Drive Turntable", "229.00", True),
    ("Turntables", "Vinyl Pro Direct-Drive Turntable", "449.00", True),
    ("Turntables", "Phono Preamp", "89.00", True),
    ("Turntables", "Replacement Stylus", "39.99", False),
    ("Turntables", "Record Cleaning Kit", "24.99", False),
    ("Amplifiers", "Compact Stereo Amplifier", "299.00", True),
    ("Amplifiers", "Desktop DAC/Headphone Amp", "179.00", True),
    ("Amplifiers", "Portable USB-C DAC", "59.00", True),
    ("Amplifiers", "Streaming Receiver", "549.00", True),
    ("Amplifiers", "Tube Headphone Amplifier", "389.00", False),
    ("Microphones", "Podcast USB Microphone", "99.00", True),
    ("Microphones", "Studio Condenser Microphone", "199.00", True),
    ("Microphones", "Lavalier Clip Microphone", "29.99", True),
    ("Microphones", "Wireless Mic Kit", "179.00", True),
    ("Microphones", "Boom Arm Mic Stand", "49.99", False),
    ("Cables", "Braided USB-C Cable 2m", "14.99", True),
    ("Cables", "3.5mm Aux Cable 1.5m", "9.99", True),
    ("Cables", "Optical Audio Cable 2m", "12.99", True),
    ("Cables", "RCA Interconnect Pair", "19.99", True),
    ("Cables", "Speaker Wire 15m", "24.99", True),
    ("Cables", "XLR Microphone Cable 3m", "17.99", False),
    ("Cables", "HDMI eARC Cable 2m", "21.99", True),
    ("Accessories", "Headphone Stand Walnut", "39.99", False),
    ("Accessories", "Hard Travel Case", "24.99", True),
    ("Accessories", "Replacement Ear Pads", "29.99", False),
    ("Accessories", "Memory Foam Ear Tips (3 pairs)", "19.99", True),
    ("Accessories", "Speaker Wall Mounts (Pair)", "34.99", True),
    ("Accessories", "Isolation Pads", "29.99", False),
    ("Accessories", "Bluetooth 5.3 Transmitter", "39.99", True),
    ("Accessories", "Wireless Charging Dock", "49.99", True),
    ("Accessories", "Cleaning Kit for Earbuds", "12.99", False),
    ("Accessories", "Airplane Adapter", "9.99", False),
    ("Accessories", "Soundbar Wall Bracket", "29.99", True),
    ("Accessories", "Cable Organizer Set", "14.99", False),
    ("Accessories", "Surge Protector 8-Outlet", "44.99", True),
    ("Smart Home", "Multi-Room Audio Hub", "249.00", True),
    ("Smart Home", "Smart Plug (2-Pack)", "29.99", True),
    ("Smart Home", "Universal Remote", "79.00", True),
    ("Smart Home", "Voice Remote for Soundbars", "39.99", False),
    ("Gift Cards", "Gift Card", "50.00", False),
)

CATEGORY_CODES = {
    "Headphones": "HP",
    "Speakers": "SP",
    "Turntables": "TT",
    "Amplifiers": "AM",
    "Microphones": "MI",
    "Cables": "CB",
    "Accessories": "AC",
    "Smart Home": "SH",
    "Gift Cards": "GC",
}


def build_catalog() -> tuple[CatalogItem, ...]:
    items = []
    for index, (category, title, price, on_bestbuy) in enumerate(_CATALOG_ROWS):
        items.append(
            CatalogItem(
                product_id=7001 + index,
                sku=f"NW-{CATEGORY_CODES[category]}-{index + 1:03d}",
                title=title,
                category=category,
                price_usd=Decimal(price),
                # Zipf-like: a few best sellers, a long tail; cheap items sell more often.
                popularity=(1.0 / (1 + index % 17) ** 0.6) * (1.6 if float(price) < 60 else 1.0),
                on_bestbuy=on_bestbuy,
            )
        )
    return tuple(items)


CATALOG = build_catalog()
SELLABLE = tuple(item for item in CATALOG if item.category != "Gift Cards")
GIFT_CARD = next(item for item in CATALOG if item.category == "Gift Cards")


def product_external_id(channel: str, item: CatalogItem) -> str:
    if channel == SHOPIFY:
        return f"gid://shopify/Product/{item.product_id}"
    return f"offer-{item.product_id}"


def variant_external_id(channel: str, item: CatalogItem) -> str:
    """The sellable unit's id: the product's one Shopify variant ("Default Title"), or the offer."""
    if channel == SHOPIFY:
        return f"gid://shopify/ProductVariant/{item.product_id + 1000}"
    return product_external_id(channel, item)


def product_record(channel: str, item: CatalogItem) -> Product:
    return Product(
        external_id=variant_external_id(channel, item),
        title=item.title,
        sku=item.sku,
        currency=CURRENCY[channel],
        price=item.price(channel),
        status="ACTIVE",
        updated_at=datetime(2023, 11, 1, tzinfo=UTC),
        product_type=item.category,
    )
