"""Storage: tables, migrations, repositories, and counter stores."""
