"""Generate a realistic, deterministic customer-support Q/A dataset for a fictional shop.

The company is Ridgeline Outfitters, an online outdoor-gear shop shipping across the US and
Canada. Each row is one closed support ticket: the customer's question and the agent's answer.
Questions vary a lot (openers, casual or formal register, typos, slot values such as order
numbers and products) while each intent keeps one answer template, so a fine-tuned model has a
learnable question -> answer mapping.

A few deliberate defects (exact duplicates, empty answers, personal e-mail addresses and one
question answered two different ways) give the data-quality stage something real to catch.
Everything is drawn from one ``random.Random(seed)``, so the same seed and size always give a
byte-identical CSV. Standard library only: this runs before any heavy dependency is needed.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from random import Random

logger = logging.getLogger(__name__)

COLUMNS = ("ticket_id", "created_at", "category", "question", "answer")
MIN_PAIRS = 50  # below this the fixed defect rows would dominate the sample
YEAR_START = date(2026, 1, 1)
DAYS_IN_YEAR = 365
MAX_DRAWS = 25  # redraws per ticket before accepting a repeated question (practically never hit)
CASUAL_SHARE = 0.4  # share of customers who write casually (lower case, no question mark)
TYPO_RATE = 0.07  # share of questions with one swapped-letter typo

# Rows carrying each deliberate defect. Fixed rather than proportional to n_pairs so the
# data-quality stage's expectations do not move when the sample size does.
DEFECT_COUNTS = {"exact_duplicate": 3, "empty_answer": 2, "email": 3, "conflict": 1}
EMPTY_ANSWERS = ("", "   ")  # one truly empty, one whitespace only: both must be caught

# Spelled out because strftime("%B") depends on the machine's locale.
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# (name, fact) pairs: the product-info intent answers with the fact, a stable mapping to learn.
# Names are singular ("Softshell Pant", as outdoor catalogues write them) so templates such as
# "The {product} has ..." stay grammatical for every product.
GEAR = (
    ("Summit 2P Tent", "weighs 1.9 kg packed, sleeps two and pitches in about four minutes"),
    ("Basecamp 4P Tent", "sleeps four, is 1.9 m tall at the peak and packs down to 6.2 kg"),
    ("Ridgeline 65L Backpack", "carries 65 litres, weighs 1.8 kg and fits torsos of 40-53 cm"),
    ("Daytripper 28L Pack", "holds 28 litres, has a 3-litre hydration sleeve and weighs 850 g"),
    ("Cascade -5 Sleeping Bag", "is rated comfortable to -5 °C and uses 650-fill down"),
    ("Glacier Water Filter", "removes 99.9999% of bacteria and filters 1.5 litres a minute"),
    ("Ember Camp Stove", "boils a litre of water in 3.5 minutes on a screw-on gas canister"),
    ("Switchback Trekking Pole Set", "is carbon, adjusts from 105 to 135 cm and weighs 460 g"),
    ("Nomad Hammock", "holds up to 180 kg and packs into its own 12 cm stuff sack"),
    ("Lumen 400 Headlamp", "gives 400 lumens, runs 40 hours on low and charges over USB-C"),
    ("Drift Sleeping Pad", "is 7 cm thick, has an R-value of 4.2 and inflates in 12 breaths"),
    ("Trailhead Camp Chair", "weighs 950 g, holds 145 kg and packs to the size of a bottle"),
    ("TrailRunner GTX Shoe", "has a waterproof lining, an 8 mm drop and a Vibram outsole"),
    ("Canyon Mid Hiking Boot", "is full-grain leather with a waterproof liner, 1.2 kg a pair"),
)
APPAREL = (
    ("Alpine Down Jacket", "uses 800-fill responsibly sourced down and packs into its pocket"),
    ("Stormline Rain Jacket", "has a 3-layer membrane rated to 20,000 mm and zipped pit vents"),
    ("Merino Base Layer", "is 200 g/m² merino wool and resists odour for days of wear"),
    ("Scree Softshell Pant", "is stretch softshell with a water-repellent finish"),
    ("Fleece Quarter-Zip", "is 300-weight recycled fleece and weighs 390 g in size M"),
    ("Ridge Trail Short", "is quick-drying nylon with a 7-inch inseam and a phone pocket"),
)
PRODUCTS = GEAR + APPAREL

SIZES = ("XS", "S", "M", "L", "XL", "XXL")
COLOURS = ("Slate Blue", "Forest Green", "Ember Orange", "Graphite", "Sand", "Glacier White")
CITIES = (
    "Denver",
    "Portland",
    "Seattle",
    "Boulder",
    "Salt Lake City",
    "Minneapolis",
    "Austin",
    "Burlington",
    "Asheville",
    "Bozeman",
    "Chicago",
    "Boston",
    "Vancouver",
    "Calgary",
    "Toronto",
)
COUNTRIES = (
    "Mexico",
    "the United Kingdom",
    "Germany",
    "France",
    "Japan",
    "Australia",
    "New Zealand",
)
CARRIERS = ("UPS", "FedEx", "USPS", "Canada Post")
DEVICES = ("iPhone 15", "iPhone 13", "Pixel 8", "Galaxy S24", "iPad Air", "OnePlus 12")
PROMO_CODES = ("TRAIL10", "SUMMIT15", "WELCOME20", "SPRING25", "BASECAMP5")
# (code, meaning): the checkout-error intent explains each code the same way every time.
ERROR_CODES = (
    ("PAY-408", "the payment page timed out before your bank replied"),
    ("PAY-402", "your bank declined the authorisation request"),
    ("CART-409", "an item in your basket sold out while you were checking out"),
    ("ADDR-422", "we couldn't match your shipping address with the postal database"),
)

# Openers end a sentence or a line (letter style), so the question after them keeps its capital.
FORMAL_OPENERS = (
    "",
    "",
    "",
    "Hello.",
    "Hi!",
    "Good morning.",
    "Good afternoon!",
    "Dear Ridgeline team,\n",
    "Hello there!",
    "Hi Ridgeline support,\n",
)
FORMAL_CLOSERS = (
    "",
    "",
    "",
    "Thank you.",
    "Thanks in advance.",
    "Many thanks.",
    "Kind regards.",
    "I appreciate your help.",
    "Thank you for your time.",
    "Looking forward to your reply.",
)
CASUAL_OPENERS = ("", "", "", "hey", "hey,", "hi", "yo,", "quick question:", "ok so", "hiya,")
CASUAL_CLOSERS = ("", "", "", "thx", "thanks!", "cheers", "pls help", "asap pls", ":)", "ty")

# Fictional personal addresses on reserved example domains; only ever placed in defect rows.
PERSONAL_EMAILS = (
    "jane.doe@example.com",
    "m.okafor@example.org",
    "sam_lee82@example.net",
    "priya.raman@example.com",
    "tom.becker77@example.org",
    "lucia.fernandez@example.net",
)
EMAIL_SENTENCES = (
    "My email is {email}.",
    "You can reach me at {email}.",
    "(account email: {email})",
    "my email's {email} btw",
)


@dataclass(frozen=True)
class _Intent:
    """One thing customers ask for: many phrasings, one answer template."""

    name: str
    category: str
    questions: tuple[str, ...]
    answer: str


RETURN_POLICY = _Intent(
    "return_policy",
    "returns",
    (
        "What is your return policy?",
        "How long do I have to return the {product}?",
        "Can I still return something I bought on {date}?",
        "How many days do I have to send back an item?",
        "Is there a time limit on returns?",
        "Do I have to pay for return shipping?",
        "I bought the {product} on {date}. Am I still within the return window?",
    ),
    "You can return unused items within 60 days of delivery for a full refund, and return "
    "shipping is free. Start from Orders > Return item and we'll e-mail you a prepaid label.",
)
# The policy before the 2026 change, still in one older ticket: the planted conflict.
STALE_RETURN_POLICY_ANSWER = (
    "You can return unused items within 30 days of delivery. Return shipping costs $6.95, "
    "which we deduct from your refund."
)

INTENTS = (
    _Intent(
        "order_status",
        "orders",
        (
            "Where is my order {order}?",
            "Can you tell me the status of order {order}?",
            "I placed order {order} on {date} and haven't heard anything since.",
            "What's happening with my order {order}?",
            "Has order {order} shipped yet?",
            "Any update on {order}? I ordered the {product}.",
            "My order number is {order}, can you check where it is?",
            "I'm still waiting for {order}. When will it ship?",
        ),
        "Order {order} shipped on {ship_date} with {carrier}, tracking number {tracking}. "
        "It should reach you by {eta}.",
    ),
    _Intent(
        "cancel_order",
        "orders",
        (
            "I need to cancel order {order}.",
            "Can I still cancel {order}? I ordered it by mistake.",
            "Please cancel my order {order} for the {product}.",
            "How do I cancel an order I placed on {date}? It's {order}.",
            "I changed my mind about the {product}, can you cancel {order}?",
            "Cancel {order} please, I found it cheaper locally.",
        ),
        "I've cancelled order {order} before it left our warehouse. The refund of {amount} "
        "will be back on your card ending {last4} within 3-5 business days.",
    ),
    _Intent(
        "change_address",
        "orders",
        (
            "I need to change the shipping address on {order}.",
            "I moved to {city}. Can you update the address on order {order}?",
            "Wrong address on {order}, can I fix it? It should go to {city}.",
            "Is it possible to ship {order} to {city} instead?",
            "I made a typo in my address for order {order}. I'm in {city}.",
            "Can you redirect {order} to my office in {city}?",
        ),
        "I've updated the delivery address on order {order} to your address in {city}. "
        "You'll get a new confirmation e-mail within the hour.",
    ),
    _Intent(
        "add_item",
        "orders",
        (
            "Can I add a {product} to order {order}?",
            "I forgot to add the {product} to {order}. Can you add it?",
            "Is it possible to change {order} and include the {product}?",
            "I want to add one more item, the {product}, to my order {order}.",
            "Can you combine the {product} with my existing order {order}?",
        ),
        "Orders can't be changed once they're placed, so I can't add the {product} to "
        "{order}. Please place a separate order: if both ship the same day we'll combine them "
        "and refund the second shipping charge.",
    ),
    _Intent(
        "missing_confirmation",
        "orders",
        (
            "I never got a confirmation for order {order}.",
            "Did my order {order} go through? I didn't get a confirmation email.",
            "No order confirmation for {order} in my inbox. Is everything ok?",
            "I paid for the {product} but got no confirmation. Order {order}.",
            "Can you resend the confirmation for {order}?",
        ),
        "Order {order} went through and is being packed. I've resent the confirmation e-mail; "
        "if it isn't in your inbox in 10 minutes, please check your spam folder.",
    ),
    _Intent(
        "shipping_cost",
        "shipping",
        (
            "How much is shipping to {city}?",
            "Do you charge for delivery to {city}?",
            "What does shipping cost for the {product} to {city}?",
            "Is shipping free to {city}?",
            "What are your delivery fees for {city}?",
            "How much would express shipping to {city} be?",
        ),
        "Standard shipping to {city} is free on orders over $75 and $6.95 below that. "
        "Express delivery (1-2 business days) is $14.95.",
    ),
    _Intent(
        "delivery_time",
        "shipping",
        (
            "How long does delivery to {city} take?",
            "If I order the {product} today, when will it arrive in {city}?",
            "How many days to ship to {city}?",
            "What's the usual delivery time for {city}?",
            "I need the {product} in {city} for a trip. How fast can you get it there?",
            "When would an order placed today reach {city}?",
        ),
        "Standard delivery to {city} takes {days} business days, and orders placed before "
        "2 pm ship the same day.\nIf you need it sooner, express delivery takes 1-2 business "
        "days.",
    ),
    _Intent(
        "international_shipping",
        "shipping",
        (
            "Do you ship to {country}?",
            "Can I order the {product} from {country}?",
            "Is international delivery to {country} available?",
            "I live in {country}. Can you send orders there?",
            "How long does shipping to {country} take?",
            "Do you deliver outside the US and Canada, to {country} for example?",
        ),
        "Yes, we ship to {country}. International orders take 7-14 business days, and any "
        "import duties are collected by the carrier on delivery.",
    ),
    _Intent(
        "late_package",
        "shipping",
        (
            "My package for {order} was supposed to arrive on {eta} and it's still not here.",
            "Order {order} is late. Tracking hasn't moved in days.",
            "Where is my parcel? Order {order} was due on {eta}.",
            "My {product} hasn't arrived yet and it's past the delivery date. Order {order}.",
            "Tracking for {order} says delayed. What's going on?",
            "Still no delivery for order {order}, it's been over a week.",
        ),
        "I'm sorry order {order} is late. {carrier} shows it held at their {city} hub, so I've "
        "opened a trace with them (reference {trace}).\nIf it hasn't moved within 3 business "
        "days, we'll send a replacement free of charge.",
    ),
    _Intent(
        "damaged_in_transit",
        "shipping",
        (
            "The box arrived crushed and the {product} is damaged.",
            "My {product} arrived broken. Order {order}.",
            "The {product} from order {order} was damaged in shipping.",
            "Package came torn open and the {product} is scratched.",
            "What do I do if my {product} arrived damaged?",
        ),
        "I'm sorry the {product} arrived damaged. Please reply with a photo of the item and "
        "the box, and we'll ship a replacement at no cost; there's no need to return the "
        "damaged one.",
    ),
    RETURN_POLICY,
    _Intent(
        "start_return",
        "returns",
        (
            "How do I return the {product} from order {order}?",
            "I want to send back the {product}. Order {order}.",
            "What are the steps to return an item from {order}?",
            "The {product} isn't for me. How do I return it? Order {order}.",
            "I'd like a return label for the {product} in order {order}.",
            "Please help me return my {product} ({order}).",
        ),
        "To return the {product} from {order}:\n1. Go to Orders and choose Return item.\n"
        "2. Print the prepaid label we e-mail you.\n3. Drop the parcel at any {carrier} "
        "location within 14 days.",
    ),
    _Intent(
        "refund_status",
        "returns",
        (
            "I sent back the {product} two weeks ago. Where's my refund?",
            "When will I get my refund for {order}?",
            "I returned order {order} but haven't been refunded yet.",
            "Has my refund for {order} been processed?",
            "Still waiting on the refund for the {product}, order {order}.",
            "How long do refunds take? I returned {order} last week.",
        ),
        "We received your return for {order} on {ship_date} and issued a refund of {amount} "
        "the same day. It can take 5-10 business days to appear on your card ending {last4}.",
    ),
    _Intent(
        "exchange_size",
        "returns",
        (
            "Can I exchange the {apparel} for a size {size}?",
            "The {apparel} is too small. Can I swap it for a {size}?",
            "I need a size {size} instead of the one I ordered in the {apparel}.",
            "How do I exchange my {apparel} for size {size}?",
            "Is it free to exchange the {apparel} for a {size}?",
        ),
        "Yes: start an exchange from Orders > Exchange and pick size {size} of the {apparel}. "
        "We ship the new one as soon as the carrier scans the original, and exchanges are "
        "free, including the return label.",
    ),
    _Intent(
        "return_used",
        "returns",
        (
            "Can I return a {product} I've already used on a trip?",
            "I used the {product} once and didn't like it. Can I return it?",
            "Do you accept returns on used gear like the {product}?",
            "The {product} has been worn outside. Is it still returnable?",
            "Is it possible to return a used {product}?",
        ),
        "Used gear can't be returned for a refund, but if the {product} failed in normal use "
        "it's covered by our warranty. Reply with a photo and a short description and we'll "
        "take it from there.",
    ),
    _Intent(
        "double_charge",
        "billing",
        (
            "I was charged twice for order {order}.",
            "There are two charges of {amount} on my card for {order}.",
            "Why did you bill me twice for {order}?",
            "My bank shows a double payment for the {product}, order {order}.",
            "I see a duplicate charge for order {order}. Please refund one.",
        ),
        "I can see the duplicate charge of {amount} for order {order}. The second one is a "
        "pending authorisation that your bank will release within 3-5 business days; no money "
        "was taken twice.",
    ),
    _Intent(
        "payment_methods",
        "billing",
        (
            "What payment methods do you accept?",
            "Can I pay with PayPal?",
            "Do you take Apple Pay?",
            "Is it possible to pay with a gift card and a credit card together?",
            "Which cards can I use at checkout?",
            "Do you accept Google Pay or American Express?",
        ),
        "We accept Visa, Mastercard, American Express, PayPal, Apple Pay and Google Pay. "
        "Gift cards can be combined with any of these at checkout.",
    ),
    _Intent(
        "invoice",
        "billing",
        (
            "Can I get an invoice for {order}?",
            "I need a VAT invoice for order {order}.",
            "Where do I download the receipt for {order}?",
            "Please send me an invoice with my company name for {order}.",
            "My employer needs an itemised invoice for the {product}, order {order}.",
        ),
        "You can download the invoice for {order} from Orders > {order} > Invoice. If you "
        "need a company name or tax ID on it, reply with the details and I'll reissue it.",
    ),
    _Intent(
        "promo_code",
        "billing",
        (
            "My discount code {promo} isn't working.",
            "Why won't {promo} apply to the {product}?",
            "The code {promo} says invalid at checkout.",
            "I tried {promo} but the price didn't change.",
            "Can I use {promo} on sale items?",
        ),
        "The code {promo} only applies to full-price items on orders over $50, so it won't "
        "discount items already on sale. Codes can't be combined, so remove any other code "
        "first.",
    ),
    _Intent(
        "card_declined",
        "billing",
        (
            "My card ending in {last4} keeps getting declined.",
            "Payment failed with my card ending {last4}. Why?",
            "Why is my card ({last4}) declined when I try to buy the {product}?",
            "Your site won't accept my card, last four digits {last4}.",
            "Card {last4} declined three times now.",
        ),
        "Declines on the card ending {last4} usually come from your bank's fraud check or a "
        "billing address that doesn't match. Please check the address first; if it still "
        "fails, your bank can approve the payment, or you can pay with PayPal instead.",
    ),
    _Intent(
        "reset_password",
        "account",
        (
            "I forgot my password.",
            "How do I reset my password?",
            "I can't log in to my account.",
            "My password isn't working anymore.",
            "The password reset link isn't arriving.",
            "Locked out of my account, what do I do?",
        ),
        "Choose Forgot password on the sign-in page and we'll e-mail you a reset link that is "
        "valid for 30 minutes.\nIf it doesn't arrive within a few minutes, check your spam "
        "folder.",
    ),
    _Intent(
        "change_email",
        "account",
        (
            "How do I change the email address on my account?",
            "I have a new email address. How do I update it?",
            "Can you change the email on my account?",
            "I want to use a different email for my Ridgeline account.",
            "Where can I update my contact email?",
        ),
        "Go to Account > Profile, choose Edit next to your e-mail address, and confirm the "
        "change from the link we send to the new address.",
    ),
    _Intent(
        "delete_account",
        "account",
        (
            "Please delete my account and all my data.",
            "How do I close my Ridgeline account?",
            "I want my personal data removed.",
            "Can you delete my customer account?",
            "I'd like to exercise my right to have my data erased.",
        ),
        "I've started deleting your account. This completes within 30 days and you'll get a "
        "final confirmation; order records we must keep for tax purposes are anonymised.",
    ),
    _Intent(
        "rewards_points",
        "account",
        (
            "How do Trail Rewards points work?",
            "When do my rewards points expire?",
            "Can I use my points on the {product}?",
            "How much are my Trail Rewards points worth?",
            "Do I earn points on the {product}?",
            "How many points do I get per dollar?",
        ),
        "You earn 1 Trail Rewards point per dollar spent, and every 100 points are worth $5 at "
        "checkout, including on the {product}. Points expire 12 months after your last "
        "purchase.",
    ),
    _Intent(
        "unsubscribe",
        "account",
        (
            "Stop sending me marketing emails.",
            "How do I unsubscribe from your newsletter?",
            "I get too many promotional emails from you.",
            "Please take me off your mailing list.",
            "How can I opt out of marketing messages?",
        ),
        "I've unsubscribed you from marketing e-mails; it can take up to 48 hours to take "
        "effect. You'll still get order and shipping updates.",
    ),
    _Intent(
        "product_info",
        "product",
        (
            "Tell me more about the {product}.",
            "How heavy is the {product}?",
            "What are the specs of the {product}?",
            "Can you give me the details on the {product}?",
            "I'm thinking about buying the {product}. What should I know?",
            "Is the {product} any good for a week-long trip?",
        ),
        "The {product} {product_fact}. Full specifications are on the product page under Details.",
    ),
    _Intent(
        "sizing",
        "product",
        (
            "What size {apparel} should I get? I'm usually a {size}.",
            "Does the {apparel} run small? I normally wear {size}.",
            "I'm a {size} in most brands. Which size of the {apparel} fits me?",
            "Is the {apparel} true to size? I'm between {size} and the next size up.",
            "Should I size up in the {apparel}? I wear a {size}.",
        ),
        "The {apparel} runs true to size, so a {size} should fit you well. If you plan to "
        "layer underneath, go one size up; exchanges are free.",
    ),
    _Intent(
        "stock",
        "product",
        (
            "When will the {product} be back in stock?",
            "Is the {product} in {colour} available?",
            "The {product} in {colour} is sold out. Will you restock it?",
            "Do you have the {product} in {colour}?",
            "Any news on the {colour} {product} restock?",
            "I want the {product} in {colour} but it says out of stock.",
        ),
        "The {product} in {colour} is expected back in stock on {restock}. Choose Notify me on "
        "the product page and we'll e-mail you the moment it's available.",
    ),
    _Intent(
        "care",
        "product",
        (
            "How do I wash the {apparel}?",
            "Can I put the {apparel} in the washing machine?",
            "What's the best way to clean my {apparel}?",
            "My {apparel} doesn't repel water anymore. How do I fix it?",
            "Care instructions for the {apparel}?",
        ),
        "Machine wash the {apparel} cold on a gentle cycle with a technical wash, then tumble "
        "dry on low to restore the water repellency.\nAvoid fabric softener: it clogs the "
        "fabric.",
    ),
    _Intent(
        "warranty_claim",
        "warranty",
        (
            "My {product} broke after {months} months.",
            "The zipper on my {product} failed.",
            "There's a defect in my {product}. What can I do?",
            "I think my {product} is faulty. It's only {months} months old.",
            "A seam on the {product} came apart after {months} months of light use.",
            "How do I make a warranty claim for my {product}?",
        ),
        "I'm sorry the {product} failed. It's covered by our 2-year warranty, so please reply "
        "with your order number and a photo of the fault.\nOnce approved, we'll send a "
        "prepaid label and repair or replace it within 10 business days.",
    ),
    _Intent(
        "warranty_length",
        "warranty",
        (
            "How long is the warranty on the {product}?",
            "Does the {product} come with a warranty?",
            "What does the warranty cover for the {product}?",
            "Is the {product} guaranteed?",
            "What's the warranty period for the {product}?",
        ),
        "The {product} has a 2-year warranty against manufacturing defects from the date of "
        "delivery. Normal wear and tear and accidental damage aren't covered.",
    ),
    _Intent(
        "repair_service",
        "warranty",
        (
            "Do you offer repairs for the {product}?",
            "My {product} is out of warranty. Can you still repair it?",
            "Can I send in my {product} to get it fixed?",
            "Is there a repair service for old Ridgeline gear like the {product}?",
            "How much does it cost to repair the {product}?",
        ),
        "Yes: our repair workshop in Denver fixes zippers, seams and buckles on any Ridgeline "
        "gear, even out of warranty. Repairs start at $15 and take about 3 weeks.\nStart a "
        "request from Help > Repairs.",
    ),
    _Intent(
        "claim_status",
        "warranty",
        (
            "What's the status of my warranty claim {claim}?",
            "Any update on claim {claim} for my {product}?",
            "I submitted warranty claim {claim} and haven't heard back.",
            "Has claim {claim} been approved?",
            "Checking in on {claim}, the {product} replacement.",
        ),
        "Warranty claim {claim} was approved on {ship_date}. Your replacement {product} ships "
        "within 2 business days, and you'll get a tracking number by e-mail.",
    ),
    _Intent(
        "app_crash",
        "technical",
        (
            "The Ridgeline app keeps crashing on my {device}.",
            "Your app closes as soon as I open it on my {device}.",
            "The app crashes every time I tap My Orders. I'm on a {device}.",
            "Is anyone else having the app crash on {device}?",
            "I can't use the app on my {device}, it just shuts down.",
        ),
        "Sorry about the crashes! Version 4.12 of the app fixes a crash on the {device}, so "
        "please update from your app store. If it still closes, reinstall it: your account "
        "and orders are stored with us, not on the phone.",
    ),
    _Intent(
        "checkout_error",
        "technical",
        (
            "I keep getting error {error_code} at checkout.",
            "Checkout fails with {error_code}. What does that mean?",
            "What is error {error_code}? I was trying to buy the {product}.",
            "Getting {error_code} when I try to pay.",
            "Your website shows {error_code} and won't let me finish my order.",
        ),
        "Error {error_code} means {error_meaning}. Your basket is saved and you haven't been "
        "charged, so please try again in a few minutes.\nIf it happens again, reply with a "
        "screenshot and we'll place the order for you.",
    ),
    _Intent(
        "notifications",
        "technical",
        (
            "How do I turn off push notifications in the app?",
            "The app sends me too many notifications.",
            "Can I get delivery alerts without the marketing notifications?",
            "How do I stop the app buzzing about sales?",
            "Where are the notification settings on my {device}?",
        ),
        "In the app, go to Profile > Settings > Notifications and switch off the types you "
        "don't want. Order and delivery alerts can stay on while marketing ones are off.",
    ),
    _Intent(
        "verification_code",
        "technical",
        (
            "I'm not receiving the verification code to sign in.",
            "The sign-in code never arrives on my {device}.",
            "Where is my two-factor code?",
            "The text with my login code isn't coming through.",
            "I can't finish signing in because the code doesn't arrive.",
        ),
        "Sign-in codes can take up to 5 minutes to arrive by text. If nothing comes, choose "
        "Send by e-mail instead and check your phone number under Account > Security.",
    ),
)

CATEGORIES = tuple(sorted({intent.category for intent in INTENTS}))
_INTENTS_BY_CATEGORY = {
    category: tuple(intent for intent in INTENTS if intent.category == category)
    for category in CATEGORIES
}


@dataclass(frozen=True)
class SampleDataSummary:
    """What write_sample_csv wrote: where, how many rows, and what it planted."""

    path: Path
    rows: int
    categories: dict[str, int]  # rows per category
    defects: dict[str, int]  # {"exact_duplicate": n, "empty_answer": n, "email": n, "conflict": n}


def _human_date(day: date) -> str:
    """Format a date the way customers and agents write it ("March 14"), locale-independent."""
    return f"{MONTH_NAMES[day.month - 1]} {day.day}"


def _draw_dates(rng: Random, created: date) -> dict[str, str]:
    """Order, ship, delivery and restock dates that make sense relative to the ticket date."""
    ordered = created - timedelta(days=rng.randint(1, 12))
    shipped = ordered + timedelta(days=rng.randint(1, 2))
    due = shipped + timedelta(days=rng.randint(2, 6))
    restock = created + timedelta(days=rng.randint(7, 45))
    return {
        "date": _human_date(ordered),
        "ship_date": _human_date(shipped),
        "eta": _human_date(due),
        "restock": _human_date(restock),
    }


def _draw_references(rng: Random) -> dict[str, str]:
    """Identifiers and amounts an agent would look up: order, tracking, card, claim numbers."""
    cents = rng.randrange(1_500, 60_000)
    error_code, error_meaning = rng.choice(ERROR_CODES)
    return {
        "order": f"ORD-{rng.randrange(100_000, 1_000_000)}",
        "tracking": str(rng.randrange(10**11, 10**12)),
        "trace": f"TR-{rng.randrange(10_000, 100_000)}",
        "claim": f"WC-{rng.randrange(10_000, 100_000)}",
        "amount": f"${cents // 100}.{cents % 100:02d}",
        "last4": f"{rng.randrange(10_000):04d}",
        "promo": rng.choice(PROMO_CODES),
        "error_code": error_code,
        "error_meaning": error_meaning,
    }


def _draw_catalogue(rng: Random) -> dict[str, str]:
    """Products, sizes, places and devices a question or answer may mention."""
    product, product_fact = rng.choice(PRODUCTS)
    return {
        "product": product,
        "product_fact": product_fact,
        "apparel": rng.choice(APPAREL)[0],
        "size": rng.choice(SIZES),
        "colour": rng.choice(COLOURS),
        "city": rng.choice(CITIES),
        "country": rng.choice(COUNTRIES),
        "carrier": rng.choice(CARRIERS),
        "device": rng.choice(DEVICES),
        "months": str(rng.randint(2, 23)),  # inside the 2-year warranty
        "days": str(rng.randint(2, 6)),
    }


def _draw_slots(rng: Random, created: date) -> dict[str, str]:
    """Every slot value a template may use; unused ones cost nothing and keep draws uniform."""
    return _draw_dates(rng, created) | _draw_references(rng) | _draw_catalogue(rng)


def _add_typo(rng: Random, text: str) -> str:
    """Swap two adjacent inner letters of one longer word, as hurried typing does."""
    words = text.split(" ")
    candidates = [i for i, word in enumerate(words) if word.isalpha() and len(word) >= 5]
    if not candidates:
        return text
    i = rng.choice(candidates)
    word = words[i]
    j = rng.randrange(1, len(word) - 2)  # keep first and last letter, as real typos mostly do
    words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    return " ".join(words)


def _wrap_question(rng: Random, core: str) -> str:
    """Add an opener and a closer in a formal or a casual register."""
    if rng.random() < CASUAL_SHARE:
        core = core[0].lower() + core[1:]
        if core.endswith("?") and rng.random() < 0.5:
            core = core[:-1]
        parts = (rng.choice(CASUAL_OPENERS), core, rng.choice(CASUAL_CLOSERS))
    else:
        parts = (rng.choice(FORMAL_OPENERS), core, rng.choice(FORMAL_CLOSERS))
    return " ".join(part for part in parts if part).replace("\n ", "\n")


def _phrase_question(rng: Random, intent: _Intent, slots: dict[str, str]) -> str:
    """One customer's wording of the intent: template, register, sometimes a typo."""
    question = _wrap_question(rng, rng.choice(intent.questions).format_map(slots))
    if rng.random() < TYPO_RATE:
        question = _add_typo(rng, question)
    return question


def _draw_intent(rng: Random) -> _Intent:
    """Pick a category uniformly, then an intent in it, so categories stay balanced."""
    return rng.choice(_INTENTS_BY_CATEGORY[rng.choice(CATEGORIES)])


def _draw_ticket(
    rng: Random, created: date, seen: set[str], intent: _Intent | None = None
) -> dict[str, str]:
    """One clean ticket whose lower-cased question is new; redraws keep questions distinct."""
    for _ in range(MAX_DRAWS):
        chosen = intent or _draw_intent(rng)
        slots = _draw_slots(rng, created)
        question = _phrase_question(rng, chosen, slots)
        if question.lower() not in seen:
            break
    seen.add(question.lower())
    return {
        "created_at": created.isoformat(),
        "category": chosen.category,
        "question": question,
        "answer": chosen.answer.format_map(slots),
    }


def _draw_created_dates(rng: Random, count: int) -> list[date]:
    """Ticket dates within 2026, sorted so ticket ids rise with time as in a real export."""
    days = sorted(rng.randrange(DAYS_IN_YEAR) for _ in range(count))
    return [YEAR_START + timedelta(days=day) for day in days]


def _add_email(rng: Random, question: str, email: str) -> str:
    """Append a personal e-mail address the way customers volunteer one."""
    return f"{question} {rng.choice(EMAIL_SENTENCES).format(email=email)}"


def _plant_row_defects(rng: Random, tickets: list[dict[str, str]]) -> list[dict[str, str]]:
    """Blank some answers, add e-mails to some questions; return distinct clean rows to copy."""
    n_empty, n_email = DEFECT_COUNTS["empty_answer"], DEFECT_COUNTS["email"]
    picks = rng.sample(range(len(tickets)), n_empty + n_email + DEFECT_COUNTS["exact_duplicate"])
    for k, i in enumerate(picks[:n_empty]):
        tickets[i]["answer"] = EMPTY_ANSWERS[k % len(EMPTY_ANSWERS)]
    emails = rng.sample(PERSONAL_EMAILS, n_email)
    for i, email in zip(picks[n_empty : n_empty + n_email], emails, strict=True):
        tickets[i]["question"] = _add_email(rng, tickets[i]["question"], email)
    return [tickets[i] for i in picks[n_empty + n_email :]]


def _make_conflict_pair(rng: Random, seen: set[str]) -> list[dict[str, str]]:
    """Two tickets asking the same return-policy question: old policy first, then current."""
    stale_day, current_day = _draw_created_dates(rng, 2)
    current = _draw_ticket(rng, current_day, seen, intent=RETURN_POLICY)
    stale = current | {"created_at": stale_day.isoformat(), "answer": STALE_RETURN_POLICY_ANSWER}
    return [stale, current]


def _number_tickets(tickets: list[dict[str, str]]) -> list[dict[str, str]]:
    """Give each row a unique ticket id in order, with keys in output column order."""
    return [
        {"ticket_id": f"T{number:06d}", **{column: row[column] for column in COLUMNS[1:]}}
        for number, row in enumerate(tickets, start=1)
    ]


def _check_size(n_pairs: int) -> None:
    """Refuse sizes too small to hold the planted defects and every category."""
    if n_pairs < MIN_PAIRS:
        raise ValueError(
            f"n_pairs must be at least {MIN_PAIRS}, got {n_pairs}: the sample plants "
            f"{sum(DEFECT_COUNTS.values())}+ defect rows and spans {len(CATEGORIES)} "
            f"categories. Pass n_pairs={MIN_PAIRS} or more."
        )


def generate_support_rows(n_pairs: int = 1200, seed: int = 7) -> list[dict[str, str]]:
    """Return n_pairs support tickets (defect rows included) as dicts keyed by COLUMNS.

    Same n_pairs and seed always give the same rows. Rows are sorted by created_at and
    numbered in that order; exact duplicates keep the original's date but get their own id.
    """
    _check_size(n_pairs)
    rng = Random(seed)
    seen: set[str] = set()
    n_clean = n_pairs - DEFECT_COUNTS["exact_duplicate"] - 2 * DEFECT_COUNTS["conflict"]
    tickets = [_draw_ticket(rng, day, seen) for day in _draw_created_dates(rng, n_clean)]
    duplicate_sources = _plant_row_defects(rng, tickets)
    for _ in range(DEFECT_COUNTS["conflict"]):
        tickets.extend(_make_conflict_pair(rng, seen))
    tickets.extend(dict(row) for row in duplicate_sources)
    tickets.sort(key=lambda row: row["created_at"])  # stable: same-day rows keep draw order
    return _number_tickets(tickets)


def write_sample_csv(path: Path, n_pairs: int = 1200, seed: int = 7) -> SampleDataSummary:
    """Write the sample as RFC 4180 CSV (UTF-8, header row) and summarise what it holds.

    Creates the parent directory. The file is byte-identical for the same n_pairs and seed,
    so it can sit in a DVC stage without spurious re-runs downstream.
    """
    rows = generate_support_rows(n_pairs=n_pairs, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    categories = Counter(row["category"] for row in rows)
    logger.info("wrote %d sample support tickets to %s", len(rows), path)
    return SampleDataSummary(
        path=path,
        rows=len(rows),
        categories=dict(sorted(categories.items())),
        defects=dict(DEFECT_COUNTS),
    )
