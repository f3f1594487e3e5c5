# ruff: noqa: SIM905  (whitespace-separated name lists read better than list literals)
"""Synthetic name and place-name lists written for this generator.

First names are grouped by sex and birth era (born before 1960, 1960-1989, 1990 onwards) and
listed roughly from most to least common in that era; the sampler gives the name at rank ``r``
weight ``1 / (r + 3)``. Surnames are weighted the same way. Lists are deliberately short and
hand-written: they make plausible English-county data, not a reference frequency table.
"""

from __future__ import annotations

FIRST_NAMES: dict[tuple[str, str], list[str]] = {
    ("F", "old"): (
        "Margaret Patricia Jean Barbara Mary Joan Dorothy Elizabeth Pamela Sheila Brenda Joyce "
        "Irene Sylvia Betty Doreen Kathleen Valerie Maureen Christine Janet Ann Shirley Marion "
        "Eileen Audrey Jennifer Gillian Pauline Sandra Linda Carol Judith Rosemary Hazel Wendy "
        "Edna Vera Gladys Phyllis Josephine Rita Beryl Elsie Winifred Olive Mavis June Marjorie"
    ).split(),
    ("F", "mid"): (
        "Susan Karen Julie Sarah Lisa Helen Nicola Michelle Claire Joanne Amanda Rachel Emma "
        "Louise Deborah Tracey Angela Kelly Victoria Rebecca Laura Catherine Alison Lorraine "
        "Jacqueline Donna Samantha Kerry Gemma Caroline Elizabeth Jennifer Katherine Dawn Jane "
        "Natalie Hayley Zoe Kirsty Stephanie Andrea Diane Beverley Wendy Amy Charlotte Leanne"
    ).split(),
    ("F", "young"): (
        "Olivia Amelia Isla Ava Emily Sophie Grace Mia Poppy Ella Lily Evie Isabella Jessica "
        "Chloe Charlotte Freya Ruby Daisy Alice Florence Phoebe Holly Megan Hannah Lucy Katie Amy "
        "Ellie Millie Zara Aisha Priya Maya Erin Scarlett Matilda Rosie Harriet Imogen Eleanor "
        "Esme Willow Niamh Abigail Georgia Bethany Lauren Amira Zofia Maja"
    ).split(),
    ("M", "old"): (
        "John David Michael Peter Robert William James Brian Kenneth Anthony Alan Roy Ronald Derek "
        "Raymond Keith Dennis Colin Geoffrey Frank Arthur George Donald Leonard Gordon Trevor "
        "Terence Barry Malcolm Bernard Stanley Harold Norman Eric Frederick Albert Edward Richard "
        "Christopher Graham Roger Clive Douglas Gerald Leslie Victor Walter Ernest Cyril Dennis"
    ).split(),
    ("M", "mid"): (
        "Mark Paul Andrew Stephen Ian Gary Simon Neil Darren Lee Jason Martin Jonathan Matthew "
        "Daniel Christopher Richard Craig Wayne Dean Stuart Jamie Scott Adam Thomas James David "
        "Steven Kevin Carl Nicholas Robert Philip Timothy Shaun Russell Anthony Michael Benjamin "
        "Alexander Ross Gareth Justin Marcus Nathan"
    ).split(),
    ("M", "young"): (
        "Oliver Harry Jack George Noah Charlie Jacob Alfie Freddie Oscar Leo Archie Joshua Thomas "
        "William Henry Theo Max Ethan Lucas Samuel Joseph Isaac Dylan Logan Finley Mohammed Arjun "
        "Kai Toby Harrison Callum Liam Ryan Connor Luke Ben Adam Reuben Rory Elliot Tyler Louis "
        "Jake Aaron Ibrahim Jakub Kacper Ravi Stanley Albie"
    ).split(),
}

SURNAMES: list[str] = (
    "Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson "
    "Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson "
    "Wood Turner Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen "
    "James Scott Phillips Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook "
    "Carter Richardson Bailey Collins Bell Shaw Murphy Miller Cox Richards Khan Marshall Anderson "
    "Simpson Ellis Adams Singh Begum Wilkinson Foster Chapman Powell Webb Rogers Gray Mason Ali "
    "Hunt Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes Knight Lloyd Butler Russell "
    "Barker Fisher Stevens Jenkins Murray Dixon Harvey Graham Pearson Ahmed Fletcher Walsh Kaur "
    "Gibson Howard Andrews Stewart Elliott Reynolds Saunders Payne Fox Ford Pearce Day Brooks West "
    "Lawrence Cole Atkinson Bradley Spencer Gill Dawson Ball Burton O'Brien Watts Rose Booth "
    "Perry Ryan Grant Wells Armstrong Francis Rees Hayes Hart Hudson Newman Barrett Webster Hunter "
    "Gregory Carr Lowe Page Marsh Riley Dunn Woods Parsons Berry Stone Reid Holland Hawkins "
    "Harding "
    "Porter Robertson Newton Oliver Reed Kennedy Williamson Bird Gardner Shah Dean Lane Cooke "
    "Bates Henderson Parry Burgess Bishop Walton Burns Nicholson Shepherd Ross Cross Long Freeman "
    "Warren Nicholls Hamilton Byrne Sutton McDonald Yates Hodgson Robson Curtis Hopkins O'Connor "
    "Harper Coleman Watkins Moss McCarthy Chambers O'Neill Griffin Sharp Hardy Wheeler Potter "
    "Osborne Johnston Gordon Doyle Wallace George Jordan Hutchinson Rowe Burke May Pritchard "
    "Gilbert Willis Higgins Read Miles Stevenson Stephenson Hammond Arnold Buckley Walters Hewitt "
    "Barber Nelson Slater Austin Sullivan Whitehead Mann Frost Lambert Stephens Blake Akhtar Lynch "
    "Goodwin Barton Woodward Thomson Cunningham Quinn Barnett Baxter Bibi Clayton Nash Greenwood "
    "Jennings Holt Kemp Poole Gallagher Bond Stokes Tucker Davidson Fowler Heath Norman Middleton "
    "Lawson Banks French Stanley Jarvis Gibbs Ferguson Hayward Carroll Farrell Hale Kowalski Nowak "
    "Chen Wang Okafor Mensah Nguyen Begley Hemming Bayliss Tolley Bourne Haynes Pardoe Southall"
).split()

NICKNAMES: dict[str, list[str]] = {
    "Robert": ["Bob", "Rob", "Bobby"],
    "Margaret": ["Peggy", "Maggie", "Meg"],
    "William": ["Bill", "Will", "Billy"],
    "Elizabeth": ["Liz", "Beth", "Betty", "Lizzie"],
    "Richard": ["Dick", "Rich"],
    "James": ["Jim", "Jimmy"],
    "John": ["Jack", "Johnny"],
    "Michael": ["Mike", "Mick"],
    "Anthony": ["Tony"],
    "Christopher": ["Chris"],
    "Patricia": ["Pat", "Trish"],
    "Catherine": ["Kate", "Cathy"],
    "Katherine": ["Kate", "Kathy"],
    "Kathleen": ["Kath", "Kathy"],
    "Jennifer": ["Jenny", "Jen"],
    "Susan": ["Sue", "Susie"],
    "Deborah": ["Debbie", "Deb"],
    "Rebecca": ["Becky"],
    "Victoria": ["Vicky"],
    "Samantha": ["Sam"],
    "Samuel": ["Sam"],
    "Alexander": ["Alex"],
    "Edward": ["Ted", "Eddie"],
    "Frederick": ["Fred", "Freddie"],
    "Albert": ["Bert"],
    "Thomas": ["Tom", "Tommy"],
    "Joseph": ["Joe"],
    "Daniel": ["Dan", "Danny"],
    "Matthew": ["Matt"],
    "Andrew": ["Andy"],
    "Stephen": ["Steve"],
    "Steven": ["Steve"],
    "Kenneth": ["Ken"],
    "Ronald": ["Ron", "Ronnie"],
    "Raymond": ["Ray"],
    "Terence": ["Terry"],
    "Leonard": ["Len"],
    "Geoffrey": ["Geoff"],
    "Dorothy": ["Dot", "Dolly"],
    "Jacqueline": ["Jackie"],
    "Christine": ["Chris", "Chrissie"],
    "Pamela": ["Pam"],
    "Valerie": ["Val"],
    "Gillian": ["Gill"],
    "Jonathan": ["Jon"],
    "Nicola": ["Nicky"],
    "Amanda": ["Mandy"],
    "Benjamin": ["Ben"],
    "Charlotte": ["Lottie"],
    "Florence": ["Flo"],
    "Isabella": ["Bella"],
    "Henry": ["Harry"],
    "Harold": ["Harry"],
    "Donald": ["Don"],
    "Stanley": ["Stan"],
    "Bernard": ["Bernie"],
    "Nicholas": ["Nick"],
    "Philip": ["Phil"],
    "Timothy": ["Tim"],
    "Gerald": ["Gerry"],
    "Leslie": ["Les"],
    "Douglas": ["Doug"],
    "Josephine": ["Jo", "Josie"],
    "Winifred": ["Winnie"],
    "Marjorie": ["Marge"],
    "Abigail": ["Abbie"],
    "Eleanor": ["Ellie"],
}

STREET_STEMS: list[str] = (
    "Church Station Mill Victoria Park High School Manor Oak Elm Ash Beech Birch Chestnut Willow "
    "Hawthorn Holly Rowan Cedar Severn Avon Teme Stour Salwarpe Malvern Bredon Abberley Clent "
    "Lickey Wyre Orchard Meadow Brook Spring Well Green Castle Priory Abbey Cathedral Chapel "
    "Queens Kings Albert Windsor Elgar Vicarage Rectory Farm Barn Grange Court Hill Valley "
    "Ridge Lark Swan Heron Kestrel Kingfisher Plover Wren Linnet Fieldfare Cherry Plum Pear Apple "
    "Damson Hop Perry Cider Hereford Worcester Tything Foregate Sidbury Lowesmoor Droitwich "
    "Stourport Bewdley Kidderminster Evesham Pershore Broadway Ombersley Hallow Powick Kempsey "
    "Claines Fernhill Warndon Ronkswood Battenhall Barbourne Bath Bromyard Ledbury Tenbury Upton "
    "Bransford Leigh Martley Hanley Crown Sandy Cotswold Saxon Roman Mercia Offa Hastings "
    "Shakespeare Milton Tennyson Wordsworth Brunel Telford Darwin Nightingale Attlee Churchill "
    "Baskerville Housman Lansdowne Somers Coventry Lyttelton Foley Dowdeswell Sabrina Ankerdine "
    "Woodbury Hartlebury Habberley Offmore Comberton Birchen Blackpole Merriman Larkhill Wylds"
).split()

STREET_SUFFIXES: list[str] = (
    "Road Street Lane Close Avenue Drive Way Crescent Gardens Grove Place Court Walk Rise View Mews"
).split()
STREET_SUFFIX_WEIGHTS: list[float] = [
    18,
    10,
    12,
    14,
    7,
    8,
    5,
    5,
    4,
    3,
    3,
    3,
    2,
    2,
    2,
    2,
]

HOUSE_NAMES: list[str] = [
    "Rose Cottage",
    "The Old Rectory",
    "Orchard House",
    "Meadow View",
    "Holly Lodge",
    "The Barn",
    "Ivy Cottage",
    "Hillside",
    "Brook House",
    "The Willows",
    "Woodlands",
    "Fairview",
    "Church Farm",
    "The Stables",
    "Laurel Cottage",
    "Yew Tree Cottage",
    "Pear Tree Cottage",
    "Hop Kiln House",
    "The Oast House",
    "Damson Cottage",
    "Severn View",
    "Malvern View",
    "The Old School",
    "Mill House",
    "The Granary",
    "Court Farm",
    "Lower Barn",
    "Cider Mill Cottage",
]

VILLAGE_PREFIXES: list[str] = (
    "Ash Bell Bir Chad Crow Elm Fern Hal Ink Kemp Lind Mart Ness Oak Pen Rad Stan Thorn Up Wick "
    "Wood Brad Cleve Ford Hay Bred Cal Dod Eck Gris Hadz Hart Kings Lench Norton Offen Pid Shel "
    "Tib Ab Broms Chur Flad Grim Harv Hill Kyre Long Rock Sal Sned Stoke Stour Whit Wolver Cofton"
).split()
VILLAGE_SUFFIXES: list[str] = (
    "ley ton bury wick ford combe hampton worth field hill over well stone cote den lade hope "
    "bridge more ham leigh borough"
).split()
VILLAGE_QUALIFIERS_BEFORE: list[str] = ["Upper", "Lower", "Great", "Little", "North", "South"]
VILLAGE_QUALIFIERS_AFTER: list[str] = [
    "Green",
    "Heath",
    "End",
    "Common",
    "Cross",
    "on the Hill",
    "Magna",
    "Parva",
]

HOSPITALS: list[str] = [
    "Worcestershire Royal Hospital",
    "Alexandra Hospital",
    "Kidderminster Hospital",
]
