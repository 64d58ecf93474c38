"""What the seeded books are made of: places, names, the own companies' sales catalogues and what suppliers sell.

Plain tables, no logic. Languages are the party's invoice language (NL/FR/DE/EN); prices are ranges in cents;
VAT rates are per cent; the ventilation codes are Billit's (docs/reference/billit-api.md,
docs/reference/vat.md#ventilation-codes).
"""

from __future__ import annotations

from decimal import Decimal

from sandbox.identity import PARTY_ID, SECOND_PARTY_ID

# (zipcode, city, language) — Language is the party's invoice language (NL/FR/DE/EN).
PLACES: dict[str, list[tuple[str, str, str]]] = {
    "BE": [
        ("9000", "Gent", "NL"), ("2000", "Antwerpen", "NL"), ("1000", "Brussel", "NL"), ("1000", "Bruxelles", "FR"),
        ("3000", "Leuven", "NL"), ("8000", "Brugge", "NL"), ("4000", "Liège", "FR"), ("5000", "Namur", "FR"),
        ("6000", "Charleroi", "FR"), ("2800", "Mechelen", "NL"), ("3500", "Hasselt", "NL"),
        ("1050", "Ixelles", "FR"), ("7000", "Mons", "FR"), ("8500", "Kortrijk", "NL"), ("9300", "Aalst", "NL"),
        ("1348", "Louvain-la-Neuve", "FR"), ("4700", "Eupen", "DE"), ("8400", "Oostende", "NL"),
        ("1080", "Sint-Jans-Molenbeek", "NL"), ("6700", "Arlon", "FR"), ("9100", "Sint-Niklaas", "NL"),
    ],
    "NL": [("1012 AB", "Amsterdam", "NL"), ("3011 AD", "Rotterdam", "NL"), ("3511 LX", "Utrecht", "NL"),
           ("5611 EM", "Eindhoven", "NL"), ("4811 ZK", "Breda", "NL"), ("6211 CK", "Maastricht", "NL")],
    "FR": [("75008", "Paris", "FR"), ("59000", "Lille", "FR"), ("69002", "Lyon", "FR"),
           ("13001", "Marseille", "FR"), ("67000", "Strasbourg", "FR")],
    "DE": [("50667", "Köln", "DE"), ("40213", "Düsseldorf", "DE"), ("52062", "Aachen", "DE"),
           ("80331", "München", "DE"), ("20095", "Hamburg", "DE")],
    "LU": [("L-1611", "Luxembourg", "FR"), ("L-4002", "Esch-sur-Alzette", "FR")],
    "PL": [("90-001", "Łódź", "EN"), ("31-042", "Kraków", "EN"), ("00-001", "Warszawa", "EN")],
    "GB": [("EC1A 1BB", "London", "EN"), ("M1 1AE", "Manchester", "EN")],
    "US": [("10001", "New York", "EN"), ("94105", "San Francisco", "EN"), ("98101", "Seattle", "EN")],
    "CH": [("8001", "Zürich", "DE"), ("1201", "Genève", "FR")],
}  # fmt: skip

STREETS: dict[str, list[str]] = {
    "NL": ["Kerkstraat", "Stationsstraat", "Veldstraat", "Kouter", "Meir", "Grote Markt", "Industrieweg",
           "Nijverheidslaan", "Molenstraat", "Steenweg op Brussel", "Vlaanderenstraat", "Zuidlaan"],
    "FR": ["Rue de la Loi", "Chaussée de Louvain", "Place Saint-Lambert", "Rue Haute", "Boulevard d'Avroy",
           "Avenue Louise", "Rue de l'Église", "Rue du Pont d'Île", "Quai de la Sambre"],
    "DE": ["Hauptstraße", "Bahnhofstraße", "Königsallee", "Schillerstraße", "Große Bleichen"],
    "EN": ["High Street", "Market Street", "Main Street", "ul. Piotrkowska", "Station Road"],
}  # fmt: skip

SURNAMES_BE = [
    "Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters", "De Smet",
    "Dubois", "Lambert", "Dupont", "Martin", "Vermeulen", "Van den Broeck", "Desmet", "Lefèvre", "Hermans",
    "Verstraete", "D'Hondt", "Van Damme", "Renard", "Lemaître", "Gérard", "Michaux", "Declercq", "Nuyts",
]  # fmt: skip
FIRST_NAMES = ["Zoë", "Noël", "Anaïs", "Jérôme", "Hélène", "Lucas", "Emma", "Thibault", "Inès", "Jef", "Brecht"]
ACTIVITIES_NL = [
    "Bouwbedrijf",
    "Drukkerij",
    "Bakkerij",
    "Transport",
    "Schrijnwerkerij",
    "Tuinaanleg",
    "Elektriciteitswerken",
    "Architectenbureau",
    "Boekhandel",
    "Kapsalon",
    "Slagerij",
]
ACTIVITIES_FR = [
    "Menuiserie",
    "Boulangerie",
    "Garage",
    "Imprimerie",
    "Toiture",
    "Bureau d'études",
    "Librairie",
    "Électricité",
    "Pâtisserie",
    "Brasserie",
]
FORMS_BE_NL = ["BV", "BV", "NV", "CommV", "VZW", "BVBA", "CV"]
FORMS_BE_FR = ["SRL", "SRL", "SA", "SComm", "ASBL", "SPRL", "SC"]
FOREIGN_NAMES: dict[str, list[str]] = {
    "NL": ["Van der Berg Installatietechniek B.V.", "De Vries Logistiek B.V.", "Bakker & Zonen B.V.",
           "Hoogendijk Software B.V.", "IJsselmeer Visserij B.V.", "Coöperatie De Zwaluw U.A."],
    "FR": ["Château Lumière SAS", "Société Générale d'Électricité SA", "Éditions Fénelon SARL",
           "Crème & Brûlée SAS", "Ateliers Réunis de Picardie SA"],
    "DE": ["Müller GmbH", "Bäckerei Groß KG", "Schröder & Söhne GmbH", "Weißbier Brauerei AG",
           "Köhler Maschinenbau GmbH"],
    "LU": ["Moselle Conseil S.à r.l.", "Lëtzebuerger Software S.A."],
    "PL": ["Łódź Logistics Sp. z o.o.", "Żabka Dystrybucja Sp. z o.o.", "Kraków Print S.A."],
    "GB": ["Thames Valley Analytics Ltd", "Brontë & Co Ltd"],
    "US": ["Cloudberry Hosting Inc.", "Northwind Data LLC", "Acme Analytics Inc."],
    "CH": ["Zürcher Präzision AG", "Genève Horlogerie SA"],
}  # fmt: skip
SPECIAL_BE_NAMES = [
    "Brasserie Sainte-Hélène SRL",
    "Café 't Hoekske",
    "Atelier Noël & Fils SRL",
    "Crèmerie Ø-Vijf BV",
    "Société Coopérative L'Aïeul",
    "De Zwaluw – Coöperatie CV",
]
CURRENCIES = {"US": "USD", "GB": "GBP", "CH": "CHF"}
FX_BASE = {"USD": Decimal("1.0834"), "GBP": Decimal("0.8512"), "CHF": Decimal("0.9421")}

# Sales catalogues per own company: (description, reference or "", unit price range in cents, VAT %, quantity kind)
SALES_CATALOGUE: dict[int, list[tuple[str, str, int, int, int, str]]] = {
    PARTY_ID: [
        ("Consultancy (uur)", "SRV-CONS", 8500, 12500, 21, "hours"),
        ("Projectmanagement (uur)", "SRV-PM", 9500, 13500, 21, "hours"),
        ("Ontwikkeling maatwerk (uur)", "SRV-DEV", 7500, 11000, 21, "hours"),
        ("Licentie Billit-connector (maand)", "LIC-BC", 4900, 4900, 21, "months"),
        ("Hosting & onderhoud (maand)", "HOST-M", 2900, 14900, 21, "months"),
        ("Opleiding e-facturatie (dag)", "TRN-DAY", 65000, 95000, 21, "days"),
        ("Handboek e-facturatie", "BK-EF", 1245, 3495, 6, "pieces"),
        ("Boek 'Peppol in de praktijk'", "BK-PEP", 2450, 2450, 6, "pieces"),
        ("Verplaatsingskosten (km)", "KM", 43, 43, 21, "km"),
        ("Catering workshop", "CAT", 1850, 3200, 12, "pieces"),
        ("Laptop Lenovo ThinkPad", "HW-LT", 89900, 149900, 21, "pieces"),
        ("Kantoorbenodigdheden", "", 350, 4500, 21, "pieces"),
    ],
    SECOND_PARTY_ID: [
        ("Création graphique (heure)", "CRE-H", 6500, 9500, 21, "hours"),
        ("Impression affiches A2", "IMP-A2", 180, 450, 21, "pieces"),
        ("Livre d'art « Lumière »", "LIV-LUM", 3900, 5900, 6, "pieces"),
        ("Atelier céramique (séance)", "ATL-CER", 4500, 8500, 21, "pieces"),
        ("Frais de déplacement (km)", "KM", 43, 43, 21, "km"),
        ("Restauration événement", "REST", 2200, 3800, 12, "pieces"),
        ("Vase en grès émaillé", "VAS", 3500, 18000, 21, "pieces"),
        ("Identité visuelle (forfait)", "ID-FF", 120000, 350000, 21, "months"),
    ],
}  # fmt: skip

CATALOGUE_BY_LANGUAGE = {"NL": PARTY_ID, "FR": SECOND_PARTY_ID}
"""Whose catalogue a generated own company (which has none of its own) sells from, by its language."""

# Purchase categories: (name stem NL, default VAT %, Cost ventilation code, item list)
SUPPLIER_CATEGORIES: dict[str, tuple[int, str, list[tuple[str, int, int, str]]]] = {
    "printing": (21, "1", [("Flyers A5 (5000 st.)", 9900, 19900, "pieces"), ("Brochure", 180, 450, "pieces"),
                           ("Verzending", 900, 3500, "pieces"), ("Visitekaartjes", 2500, 6500, "pieces")]),
    "telecom": (21, "1", [("Abonnement mobiel", 1500, 4500, "months"), ("Internet Pro", 4900, 8900, "months"),
                          ("Toestel - afbetaling", 1200, 3500, "months")]),
    "energy": (21, "1", [("Elektriciteit - voorschot", 18000, 62000, "months"),
                         ("Gas - voorschot", 9000, 35000, "months"), ("Bijdrage energiefonds", 300, 900, "months")]),
    "saas": (21, "1", [("Cloud hosting", 2000, 90000, "months"), ("SaaS subscription (seats)", 900, 2900, "pieces"),
                       ("Support plan", 4900, 19900, "months")]),
    "office": (21, "1", [("Printerpapier A4", 450, 690, "pieces"), ("Toner", 4500, 11900, "pieces"),
                         ("Bureaustoel", 19900, 64900, "pieces"), ("Koffiebonen (kg)", 1590, 2890, "kg")]),
    "horeca": (12, "1", [("Maaltijd klantenbezoek", 2500, 9500, "pieces"), ("Dranken", 250, 900, "pieces")]),
    "books": (6, "1", [("Vakliteratuur", 1990, 8900, "pieces"), ("Abonnement vaktijdschrift", 4900, 14900,
                                                                   "months")]),
    "insurance": (0, "22", [("Premie BA-verzekering", 24000, 180000, "months"),
                            ("Premie brandverzekering", 18000, 90000, "months")]),
    "construction": (0, "21", [("Renovatiewerken kantoor", 150000, 900000, "pieces"),
                               ("Elektrische installatie", 60000, 350000, "pieces")]),
    "ic_services": (0, "55", [("Consulting services", 60000, 400000, "hours"),
                              ("Software licence", 9900, 99000, "pieces")]),
    "ic_goods": (0, "51", [("Onderdelen", 1500, 25000, "pieces"), ("Verpakkingsmateriaal", 300, 2500, "pieces")]),
    "import": (0, "70", [("Import goederen", 5000, 150000, "pieces"), ("Douanekosten", 2500, 9000, "pieces")]),
    "import_eu": (0, "102", [("Goederen invoer via EU", 4000, 80000, "pieces")]),
    "second_hand": (0, "111", [("Tweedehands bestelwagen", 800000, 1800000, "pieces"),
                               ("Occasie meubilair", 15000, 90000, "pieces")]),
    "fuel": (21, "1", [("Diesel (l)", 165, 205, "litres"), ("Carwash", 1200, 2500, "pieces")]),
}  # fmt: skip

CATEGORY_BY_COUNTRY: dict[str, list[tuple[str, int]]] = {
    "BE": [("printing", 12), ("telecom", 8), ("energy", 6), ("office", 14), ("horeca", 10), ("books", 5),
           ("insurance", 5), ("construction", 5), ("fuel", 7), ("saas", 6), ("second_hand", 2)],
    "NL": [("ic_services", 5), ("ic_goods", 4), ("saas", 2)],
    "FR": [("ic_services", 3), ("ic_goods", 3), ("energy", 1)],
    "DE": [("ic_goods", 5), ("ic_services", 2), ("import_eu", 1)],
    "LU": [("ic_services", 2)],
    "PL": [("ic_goods", 3), ("import_eu", 1)],
    "GB": [("import", 2), ("saas", 2)],
    "US": [("saas", 4), ("import", 1)],
    "CH": [("import", 2)],
}  # fmt: skip

SUPPLIER_NUMBER_FORMATS = ["F{y}-{n:05d}", "{n}", "INV/{y}/{n:06d}", "FAC-{y}{n:04d}", "{y}{n:06d}",
                            "VF{n:07d}", "R-{n}", "{y}-{n:04d}"]  # fmt: skip
