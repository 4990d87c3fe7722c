import factory

from accounts.models import MODERATORS_GROUP, User


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    display_name = factory.Faker("name")
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def moderator(self, create, extracted, **kwargs):
        if create and extracted:
            from django.contrib.auth.models import Group

            group, _ = Group.objects.get_or_create(name=MODERATORS_GROUP)
            self.groups.add(group)
