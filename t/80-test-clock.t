use strict;
use warnings;
use Test::More;
use Time::Local qw(timegm);
use lib 't/lib';
use SalesTest;

sub epoch {
    my ($y, $mo, $d, $h, $mi, $s) = ($_[0] // '') =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$/ or return undef;
    return timegm($s, $mi, $h, $d, $mo - 1, $y);
}
sub now_hdr { { 'X-Sales-Test-Now' => $_[0] } }

my $t   = SalesTest->new;
my $adm = $t->{admin};

# The warning comes as the workers start, which may be just after the
# port answers.
ok(poll(sub { SalesTest::read_file("$t->{dir}/error.log") =~ /\[warn\].*(?:sales_test_clock|test.clock)/i }, 10),
   'nginx warns that sales_test_clock is on');

my $r = $t->api(POST => '/clients', $adm, { name => 'Clock SRL' }, now_hdr('2026-01-02T03:04:05Z'));
is($r->{status}, 201, 'create with a test clock');
my $c = $r->{json};
is($c->{created_at}, '2026-01-02T03:04:05Z', 'created_at is the test time');
is($c->{updated_at}, '2026-01-02T03:04:05Z', 'updated_at is the test time');

$r = $t->api(PATCH => "/clients/$c->{id}", $adm, { notes => 'later' }, now_hdr('2026-02-03T04:05:06Z'));
is($r->{json}{updated_at}, '2026-02-03T04:05:06Z', 'PATCH moves updated_at to the test time');
is($r->{json}{created_at}, '2026-01-02T03:04:05Z', 'created_at kept');

$r = $t->api(POST => "/clients/$c->{id}/archive", $adm, undef, now_hdr('2026-03-04T05:06:07Z'));
is($r->{json}{archived_at}, '2026-03-04T05:06:07Z', 'archived_at is the test time');

$r = $t->api(GET => "/audit?object_type=client&object_id=$c->{id}", $adm);
is_deeply([map { $_->{at} } @{ $r->{json}{items} || [] }],
          ['2026-03-04T05:06:07Z', '2026-02-03T04:05:06Z', '2026-01-02T03:04:05Z'], 'audit times follow the test clock');

$r = $t->api(POST => '/clients', $adm, { name => 'Real Clock SRL' });
is($r->{status}, 201, 'create without the header');
my $e = epoch($r->{json}{created_at});
ok(defined $e && abs($e - time) < 300, "no header: created_at is the real time ($r->{json}{created_at})");

# Idempotency keys expire after 24 hours, measured on the test clock.
my $body = { name => 'Expiring Key SRL' };
my $k = { 'Idempotency-Key' => 'exp-1' };
my $r1 = $t->api(POST => '/clients', $adm, $body, { %$k, %{ now_hdr('2026-05-01T10:00:00Z') } });
is($r1->{status}, 201, 'keyed create');
my $r2 = $t->api(POST => '/clients', $adm, $body, { %$k, %{ now_hdr('2026-05-02T09:00:00Z') } });
is($r2->{status}, 201, 'retry after 23 h');
is(lc($r2->{headers}{'idempotent-replayed'} // ''), 'true', 'replayed within 24 h');
is($r2->{json}{id}, $r1->{json}{id}, 'same client within 24 h');
my $r3 = $t->api(POST => '/clients', $adm, $body, { %$k, %{ now_hdr('2026-05-02T10:00:01Z') } });
is($r3->{status}, 201, 'retry after 24 h creates');
isnt(lc($r3->{headers}{'idempotent-replayed'} // ''), 'true', 'not replayed after 24 h');
isnt($r3->{json}{id}, $r1->{json}{id}, 'a new client after 24 h');
is($t->sql("select count(*) from clients where name = 'Expiring Key SRL'"), 2, 'two rows');

$t->stop;

# With the clock off the header is ignored.
my $off = SalesTest->new(test_clock => 'off');
unlike(SalesTest::read_file("$off->{dir}/error.log"), qr/\[warn\].*(?:sales_test_clock|test.clock)/i, 'no warning when off');
$r = $off->api(POST => '/clients', $off->{admin}, { name => 'Ignored Clock SRL' }, now_hdr('2001-01-01T00:00:00Z'));
is($r->{status}, 201, 'create with the header while off');
isnt($r->{json}{created_at}, '2001-01-01T00:00:00Z', 'header ignored when off');
$e = epoch($r->{json}{created_at});
ok(defined $e && abs($e - time) < 300, 'created_at is the real time');
$off->stop;

done_testing;
