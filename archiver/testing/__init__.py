"""Testing tools shipped with the package: the fixture origin (also behind `archiver demo`)."""
