"""The GeD Database: the external register of GeD holdings that makes a member a GeDer."""
