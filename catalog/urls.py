"""Storefront discovery pages: home, catalog and search, categories, creators, reviews, wishlist."""

from django.urls import path

from catalog import views

urlpatterns = [
    path("", views.home, name="home"),
    path("catalog/", views.catalog_view, name="catalog"),
    path("catalog/c/<path:path>/", views.category_view, name="catalog-category"),
    path("creators/<slug:slug>/", views.creator_view, name="creator-profile"),
    path("packages/<slug:slug>/review/", views.review_submit, name="review-submit"),
    path("packages/<slug:slug>/wishlist/", views.wishlist_toggle, name="wishlist-toggle"),
    path("reviews/<int:pk>/vote/", views.review_vote, name="review-vote"),
    path("reviews/<int:pk>/report/", views.review_report, name="review-report"),
    path("reviews/<int:pk>/respond/", views.review_respond, name="review-respond"),
    path("account/", views.account_overview, name="account"),
    path("account/wishlist/", views.account_wishlist, name="account-wishlist"),
    path("console/reviews/", views.console_reviews, name="console-reviews"),
]
