from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0005_caller_id_duplicates_resolved"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="callerid",
            name="caller_id_unique",
        ),
        migrations.AddConstraint(
            model_name="callerid",
            constraint=models.UniqueConstraint(
                fields=("phone_number",),
                name="caller_id_number_one_organization",
                violation_error_message="This number is already registered.",
            ),
        ),
    ]
