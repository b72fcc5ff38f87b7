"""The project file: schema, migrations, queries, import and export."""
