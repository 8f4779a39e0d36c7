use strict;
use warnings;
use Test::More;
use lib 't/lib';
use SalesTest;

my $t = SalesTest->new(no_start => 1);
my $d = $t->{dir};

sub fails_naming {
    my ($conf, $re, $name) = @_;
    my ($rc, $out) = $t->conf_test($conf);
    isnt($rc, 0, "$name: nginx -t fails");
    like($out, $re, "$name: message names it") or diag($out);
    like($out, qr/\[emerg\]/, "$name: reported as emerg") or diag($out);
}

# A good configuration passes.
{
    my ($rc, $out) = $t->conf_test($t->conf);
    is($rc, 0, 'good config passes nginx -t') or diag($out);
    like($out, qr/test is successful/, 'nginx -t says successful');
}

# A folder that does not exist yet but can be created is fine.
{
    my ($rc, $out) = $t->conf_test($t->conf(db => "$d/new/sales.db"));
    is($rc, 0, 'sales_db in a creatable folder passes') or diag($out);
    ($rc, $out) = $t->conf_test($t->conf(db => "$d/new2/deeper/sales.db"));
    is($rc, 0, 'sales_db in a creatable nested folder passes') or diag($out);
}

# sales_api needs sales_db.
fails_naming($t->conf(db => undef), qr/sales_db|sales_api/, 'sales_api without sales_db');

# The database folder cannot be created: a path component is a regular file.
SalesTest::write_file("$d/file", "just a file\n");
fails_naming($t->conf(db => "$d/file/x.db"), qr/sales_db/, 'sales_db under a regular file');

# A file that is not an SQLite database.
{
    my $junk = join '', map { chr(($_ * 37 + 11) % 256) } 0 .. 8191;
    SalesTest::write_file("$d/junk.db", $junk);
    fails_naming($t->conf(db => "$d/junk.db"), qr/sales_db/, 'sales_db on a non-SQLite file');
    is(SalesTest::read_file("$d/junk.db"), $junk, 'the non-SQLite file is left untouched');
}

# Unknown thread pool.
fails_naming($t->conf(pool => 'nope'), qr/nope|sales_thread_pool/,
             'unknown sales_thread_pool');

# Bad values.
fails_naming($t->conf(http_extra => 'sales_max_body lots;'), qr/sales_max_body/,
             'bad sales_max_body');
fails_naming($t->conf(http_extra => 'sales_busy_timeout soon;'), qr/sales_busy_timeout/,
             'bad sales_busy_timeout');
fails_naming($t->conf(test_clock => 'maybe'), qr/sales_test_clock/,
             'bad sales_test_clock');

# Directive contexts.
fails_naming($t->conf(location_extra => "sales_db $d/data/other.db;"), qr/sales_db/,
             'sales_db inside a location');
{
    my $conf = $t->conf;
    $conf =~ s/(server \{\n)/$1        sales_api;\n/ or die;
    fails_naming($conf, qr/sales_api/, 'sales_api at server level');
}

# Good settings of the optional directives pass.
{
    my ($rc, $out) = $t->conf_test($t->conf(
        http_extra => 'sales_max_body 64k; sales_busy_timeout 2s;', test_clock => 'off'));
    is($rc, 0, 'sales_max_body / sales_busy_timeout / sales_test_clock off pass') or diag($out);
}

# The same configuration starts and serves.
$t->start;
my $r = $t->api(GET => '/me', $t->{admin});
is($r->{status}, 200, 'started instance answers /me');
is($r->{json}{id}, $t->{admin_id}, '/me is the admin');
my $nobody = getpwnam('nobody');
is((stat "$d/data")[4], $nobody, 'the database folder is handed to the worker user');
is((stat "$d/data/sales.db")[4], $nobody, 'the database file is handed to the worker user');
$t->stop;

done_testing;
