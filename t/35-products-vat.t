use strict;
use warnings;
use Test::More;
use lib 't/lib';
use SalesTest;

my $t   = SalesTest->new;
my $adm = $t->{admin};
my $mgr = $t->user('manager');
my $ae  = $t->user('ae', manager_id => $mgr->{id});
my $in  = $t->user('integration');
my $ISO  = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
my $DATE = qr/^\d{4}-\d\d-\d\d$/;
my $T = JSON::PP::true;
my $F = JSON::PP::false;

sub ids { [map { $_->{id} } @{ $_[0]{json}{items} || [] }] }
sub snapshot {
    return join ' ', map { $t->sql($_) // 'ERR' }
        'select count(*) from products',
        'select coalesce(sum(version),0) from products',
        'select count(*) from vat_rates',
        'select coalesce(sum(version),0) from vat_rates',
        'select count(*) from audit_log';
}

# A problem answer with exactly these error pointers.

# 400 naming the query parameter.
sub bad_param {
    my ($path, $tok, $param) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = $t->api(GET => $path, $tok);
    problem($r, 400, 'malformed', "GET $path");
    my @named = grep { ($_->{pointer} // '') =~ /(?:^|\/)\Q$param\E$/ || ($_->{detail} // '') =~ /\b\Q$param\E\b/ }
                @{ ref $r->{json} eq 'HASH' && ref $r->{json}{errors} eq 'ARRAY' ? $r->{json}{errors} : [] };
    ok(@named, "GET $path: errors name $param") or diag($r->{content});
}

# Follows next_cursor from $path with $limit; returns the ids in order.
sub walk {
    my ($path, $tok, $limit) = @_;
    my (@seen, $cursor, $pages);
    my $sep = $path =~ /\?/ ? '&' : '?';
    do {
        my $r = $t->api(GET => "$path${sep}limit=$limit" . (defined $cursor ? "&cursor=$cursor" : ''), $tok);
        is($r->{status}, 200, "page of $path") or last;
        ok(@{ $r->{json}{items} } <= $limit, "at most $limit items");
        push @seen, @{ ids($r) };
        $cursor = $r->{json}{next_cursor};
        $pages++;
    } while (defined $cursor && $pages < 50);
    return \@seen;
}

unlike(snapshot(), qr/ERR/, 'products, vat_rates and audit_log are readable');

# =============================================================================
# Products
# =============================================================================

# --- create / get --------------------------------------------------------------
my $audit0 = $t->sql('select count(*) from audit_log');
my $r = $t->api(POST => '/products', $mgr->{token}, { sku => 'LIC-ERP', name => 'ERP licence', unit => 'buc' });
is($r->{status}, 201, 'manager POST /products 201') or diag($r->{content});
my $p1 = $r->{json} || {};
like($p1->{id} // '', qr/^\d+$/, 'product id is an integer');
like($r->{headers}{location} // '', qr{/products/$p1->{id}$}, 'Location points at the product');
is($p1->{sku}, 'LIC-ERP', 'sku');
is($p1->{name}, 'ERP licence', 'name');
is($p1->{unit}, 'buc', 'unit');
is($p1->{vat_category}, 'standard', 'vat_category defaults to standard');
ok(JSON::PP::is_bool($p1->{active}) && $p1->{active}, 'active defaults to true');
is($p1->{version}, 1, 'version 1');
like($p1->{created_at} // '', $ISO, 'created_at');
is($p1->{updated_at}, $p1->{created_at}, 'updated_at = created_at');
is($t->sql('select count(*) from audit_log'), $audit0 + 1, 'audit row for the product');
is($t->sql("select sku || '|' || name || '|' || vat_category from products where id = $p1->{id}"),
   'LIC-ERP|ERP licence|standard', 'product row in the db');

$r = $t->api(POST => '/products', $adm, { sku => 'svc.install_01/a', name => 'Instalare' });
is($r->{status}, 201, 'admin POST /products 201 (sku with . _ / and lower case)') or diag($r->{content});
my $p2 = $r->{json} || {};
is($p2->{unit}, 'buc', 'unit defaults to buc');

$r = $t->api(POST => '/products', $mgr->{token}, { sku => 'X' x 64, name => 'n' x 200, unit => 'u' x 16,
                                                   vat_category => 'reduced', active => $F });
is($r->{status}, 201, 'sku of 64, name of 200, unit of 16, reduced, inactive: 201') or diag($r->{content});
my $p3 = $r->{json} || {};
is($p3->{vat_category}, 'reduced', 'vat_category reduced');
ok(JSON::PP::is_bool($p3->{active}) && !$p3->{active}, 'active false');

my %cat;
for my $c (qw(reduced_low zero exempt)) {
    $r = $t->api(POST => '/products', $mgr->{token}, { sku => "CAT-$c", name => "Cat $c", vat_category => $c });
    is($r->{status}, 201, "vat_category $c accepted") or diag($r->{content});
    is($r->{json}{vat_category}, $c, "vat_category $c stored");
    $cat{$c} = $r->{json}{id};
}

for my $who ([manager => $mgr->{token}], [ae => $ae->{token}], [integration => $in->{token}], [admin => $adm]) {
    $r = $t->api(GET => "/products/$p1->{id}", $who->[1]);
    is($r->{status}, 200, "$who->[0] GET product 200");
    is_deeply($r->{json}, $p1, "$who->[0] reads the created product");
}
problem($t->api(GET => '/products/999999', $ae->{token}), 404, 'not-found', 'unknown product');

# --- patch -----------------------------------------------------------------------
$r = $t->api(PATCH => "/products/$p1->{id}", $mgr->{token}, { name => 'ERP licence 2026', vat_category => 'reduced' });
is($r->{status}, 200, 'manager PATCH product 200') or diag($r->{content});
is($r->{json}{name}, 'ERP licence 2026', 'name changed');
is($r->{json}{vat_category}, 'reduced', 'vat_category changed');
is($r->{json}{sku}, 'LIC-ERP', 'sku kept');
is($r->{json}{version}, 2, 'version 2');
$r = $t->api(PATCH => "/products/$p1->{id}", $adm, { vat_category => 'standard', active => $F });
is($r->{status}, 200, 'admin PATCH product 200');
ok(JSON::PP::is_bool($r->{json}{active}) && !$r->{json}{active}, 'deactivated');
is($r->{json}{version}, 3, 'version 3');
is($t->sql("select active from products where id = $p1->{id}"), 0, 'active 0 in the db');
$r = $t->api(PATCH => "/products/$p1->{id}", $mgr->{token}, { active => $T });
ok($r->{json}{active}, 'reactivated');
$p1 = $r->{json};

# --- validation -------------------------------------------------------------------
my $snap = snapshot();
for my $case (
    [{ name => 'No sku' },                                  '#/sku'],
    [{ sku => '', name => 'X' },                            '#/sku'],
    [{ sku => 'X' x 65, name => 'X' },                      '#/sku'],
    [{ sku => 'A B', name => 'X' },                         '#/sku'],
    [{ sku => 'A,B', name => 'X' },                         '#/sku'],
    [{ sku => "A\x{103}", name => 'X' },                    '#/sku'],
    [{ sku => 'A+B', name => 'X' },                         '#/sku'],
    [{ sku => 12, name => 'X' },                            '#/sku'],
    [{ sku => 'OK-1' },                                     '#/name'],
    [{ sku => 'OK-1', name => '' },                         '#/name'],
    [{ sku => 'OK-1', name => 'n' x 201 },                  '#/name'],
    [{ sku => 'OK-1', name => 'X', unit => 'u' x 17 },      '#/unit'],
    [{ sku => 'OK-1', name => 'X', vat_category => 'super' },    '#/vat_category'],
    [{ sku => 'OK-1', name => 'X', vat_category => 'Standard' }, '#/vat_category'],
    [{ sku => 'OK-1', name => 'X', active => 'yes' },       '#/active'],
    [{ sku => 'OK-1', name => 'X', active => 1 },           '#/active'],
    [{ sku => 'OK-1', name => 'X', colour => 'red' },       '#/colour'],
    [{ sku => 'OK-1', name => 'X', price_minor => 100 },    '#/price_minor'],
) {
    my $r = $t->api(POST => '/products', $mgr->{token}, $case->[0]);
    invalid($r, 422, 'validation', [$case->[1]], "product invalid $case->[1] " . $SalesTest::JSON->encode($case->[0]));
}
invalid($t->api(POST => '/products', $mgr->{token}, {}), 422, 'validation', ['#/name', '#/sku'], 'empty product body');
problem($t->api(POST => '/products', $mgr->{token}, { sku => 'LIC-ERP', name => 'Again' }), 409, 'conflict', 'duplicate sku 409');
problem($t->api(PATCH => "/products/$p2->{id}", $mgr->{token}, { sku => 'LIC-ERP' }), 409, 'conflict',
        'PATCH sku onto a taken one 409');
invalid($t->api(PATCH => "/products/$p2->{id}", $mgr->{token}, { name => undef }), 422, 'validation', ['#/name'],
        'PATCH name null');
invalid($t->api(PATCH => "/products/$p2->{id}", $mgr->{token}, { sku => 'bad sku' }), 422, 'validation', ['#/sku'],
        'PATCH bad sku');
invalid($t->api(PATCH => "/products/$p2->{id}", $mgr->{token}, { vat_category => 'none' }), 422, 'validation',
        ['#/vat_category'], 'PATCH bad vat_category');
invalid($t->api(PATCH => "/products/$p2->{id}", $mgr->{token}, { id => 5 }), 422, 'validation', ['#/id'],
        'PATCH read-only id');
problem($t->api(POST => '/products', $mgr->{token}, '{"sku":'), 400, 'malformed', 'malformed product body');
problem($t->api(POST => '/products', $mgr->{token}, '{"sku":"A","sku":"B","name":"X"}'), 400, 'malformed',
        'duplicate keys');
problem($t->api(PATCH => '/products/999999', $mgr->{token}, { name => 'X' }), 404, 'not-found', 'PATCH unknown product');
is(snapshot(), $snap, 'nothing written by invalid product writes');

# --- roles ---------------------------------------------------------------------
$snap = snapshot();
problem($t->api(POST => '/products', $ae->{token}, { sku => 'AE-1', name => 'By AE' }), 403, 'forbidden', 'AE POST product');
problem($t->api(PATCH => "/products/$p1->{id}", $ae->{token}, { name => 'By AE' }), 403, 'forbidden', 'AE PATCH product');
problem($t->api(POST => '/products', $in->{token}, { sku => 'IN-1', name => 'By integration' }), 403, 'forbidden',
        'integration POST product');
problem($t->api(PATCH => "/products/$p1->{id}", $in->{token}, { name => 'By integration' }), 403, 'forbidden',
        'integration PATCH product');
is(snapshot(), $snap, 'nothing written by forbidden product writes');
is($t->sql("select count(*) from products where sku in ('AE-1','IN-1')"), 0, 'no forbidden rows');
is($t->api(GET => "/products/$p1->{id}", $ae->{token})->{json}{name}, 'ERP licence 2026', 'name unchanged');
problem($t->api(GET => '/products'), 401, 'unauthorized', 'no token');

# --- list, filters and pagination ------------------------------------------------
my @all = sort { $a <=> $b } ($p1->{id}, $p2->{id}, $p3->{id}, values %cat);
$r = $t->api(GET => '/products', $ae->{token});
is($r->{status}, 200, 'AE lists products');
is_deeply(ids($r), \@all, 'list by id');
ok(exists $r->{json}{next_cursor} && !defined $r->{json}{next_cursor}, 'next_cursor null');
is_deeply(ids($t->api(GET => '/products', $in->{token})), \@all, 'integration lists products');

is_deeply(ids($t->api(GET => '/products?q=erp', $ae->{token})), [$p1->{id}], 'q=erp (README example) finds the ERP licence');
is_deeply(ids($t->api(GET => '/products?q=licence%202026', $ae->{token})), [$p1->{id}], 'q matches the name');
is_deeply(ids($t->api(GET => '/products?q=install_01', $ae->{token})), [$p2->{id}], 'q matches the sku');
is_deeply(ids($t->api(GET => '/products?q=CAT-', $ae->{token})), [sort { $a <=> $b } values %cat], 'q matches several skus');
is_deeply(ids($t->api(GET => '/products?q=nothing-like-this', $ae->{token})), [], 'q without matches');
is_deeply(ids($t->api(GET => '/products?active=false', $ae->{token})), [$p3->{id}], 'active=false');
is_deeply(ids($t->api(GET => '/products?active=true', $ae->{token})), [grep { $_ != $p3->{id} } @all], 'active=true');
is_deeply(ids($t->api(GET => '/products?vat_category=reduced', $ae->{token})), [$p3->{id}], 'vat_category=reduced');
is_deeply(ids($t->api(GET => '/products?vat_category=standard', $ae->{token})), [$p1->{id}, $p2->{id}],
          'vat_category=standard');
is_deeply(ids($t->api(GET => '/products?vat_category=zero', $ae->{token})), [$cat{zero}], 'vat_category=zero');
is_deeply(ids($t->api(GET => '/products?vat_category=standard&active=true&q=erp', $ae->{token})), [$p1->{id}],
          'filters combine');
is_deeply(ids($t->api(GET => '/products?vat_category=reduced&active=true', $ae->{token})), [], 'filters combine (none)');

my @more;
for my $i (1 .. 9) {
    my $r = $t->api(POST => '/products', $mgr->{token}, { sku => "PAGE-$i", name => "Page product $i" });
    push @more, $r->{json}{id};
}
is(scalar(grep { defined } @more), 9, 'nine more products');
my @everything = sort { $a <=> $b } (@all, @more);
is_deeply(walk('/products', $ae->{token}, 4), \@everything, 'limit=4 pages cover every product once, by id');
is_deeply(walk('/products?q=PAGE-', $ae->{token}, 2), \@more, 'pages keep the q filter');
is_deeply(walk('/products?active=true', $ae->{token}, 5), [grep { $_ != $p3->{id} } @everything],
          'pages keep the active filter');
$r = $t->api(GET => '/products?limit=200', $ae->{token});
is_deeply(ids($r), \@everything, 'limit=200');

bad_param('/products?active=maybe', $ae->{token}, 'active');
bad_param('/products?vat_category=luxury', $ae->{token}, 'vat_category');
bad_param('/products?limit=0', $ae->{token}, 'limit');
bad_param('/products?limit=201', $ae->{token}, 'limit');
bad_param('/products?cursor=not-a-cursor', $ae->{token}, 'cursor');
bad_param('/products?colour=red', $ae->{token}, 'colour');

# =============================================================================
# VAT rates
# =============================================================================

sub rates {
    my ($cat, $tok) = @_;
    my $r = $t->api(GET => "/vat-rates?category=$cat", $tok // $ae->{token});
    is($r->{status}, 200, "GET /vat-rates?category=$cat 200");
    return [sort { ($a->{valid_from} // '') cmp ($b->{valid_from} // '') } @{ $r->{json}{items} || [] }];
}
sub shape { [map { [$_->{category}, $_->{rate_bp}, $_->{valid_to}] } @{ $_[0] }] }

# --- the seeded Romanian rates -------------------------------------------------------
my $std = rates('standard');
is_deeply(shape($std), [['standard', 1900, '2025-07-31'], ['standard', 2100, undef]],
          'standard: 1900 until 2025-07-31, 2100 open');
like($std->[0]{valid_from} // '', $DATE, 'standard 1900 has a valid_from date');
ok(($std->[0]{valid_from} // '9') lt '2025-07-31', 'standard 1900 starts before 2025-07-31');
is($std->[1]{valid_from}, '2025-08-01', 'standard 2100 from 2025-08-01');
my $red = rates('reduced');
is_deeply(shape($red), [['reduced', 900, '2025-07-31'], ['reduced', 1100, undef]], 'reduced: 900 then 1100');
is($red->[1]{valid_from}, '2025-08-01', 'reduced 1100 from 2025-08-01');
my $low = rates('reduced_low');
is_deeply(shape($low), [['reduced_low', 500, '2025-07-31'], ['reduced_low', 1100, undef]], 'reduced_low: 500 then 1100');
is($low->[1]{valid_from}, '2025-08-01', 'reduced_low 1100 from 2025-08-01');
for my $c (qw(zero exempt)) {
    my $z = rates($c);
    ok(@$z >= 1, "$c has a rate");
    is_deeply([map { $_->{rate_bp} } @$z], [map { 0 } @$z], "$c rates are 0");
    ok(@$z && !defined $z->[-1]{valid_to}, "$c rate is open-ended");
    is(scalar(grep { !defined $_->{valid_to} } @$z), 1, "$c: one open-ended rate");
}
for my $x (@$std, @$red, @$low) {
    like($x->{id} // '', qr/^\d+$/, "rate $x->{category} $x->{rate_bp} has an id");
    is($x->{version}, 1, "rate $x->{category} $x->{rate_bp} version 1");
    like($x->{created_at} // '', $ISO, "rate $x->{category} $x->{rate_bp} created_at");
}
$r = $t->api(GET => '/vat-rates', $in->{token});
is($r->{status}, 200, 'integration GET /vat-rates 200');
my %bycat;
$bycat{$_->{category}}++ for @{ $r->{json}{items} || [] };
is(join(',', map { "$_=" . ($bycat{$_} // 0) } qw(standard reduced reduced_low)), 'standard=2,reduced=2,reduced_low=2',
   'unfiltered list holds every category');
ok($bycat{zero} && $bycat{exempt}, 'unfiltered list holds zero and exempt');
is_deeply([sort keys %bycat], [sort qw(standard reduced reduced_low zero exempt)], 'only the five categories');
is($t->sql("select rate_bp from vat_rates where category = 'standard' and valid_from = '2025-08-01'"), 2100,
   'rate_bp stored exactly in the db');
$r = $t->api(GET => "/vat-rates/$std->[1]{id}", $ae->{token});
is($r->{status}, 200, 'GET one rate 200');
is($r->{json}{rate_bp}, 2100, 'GET one rate: 2100');
bad_param('/vat-rates?category=luxury', $ae->{token}, 'category');

# --- who writes ------------------------------------------------------------------
$snap = snapshot();
my $next_std = { category => 'standard', rate_bp => 2200, valid_from => '2040-01-01', valid_to => '2040-12-31' };
problem($t->api(POST => '/vat-rates', $mgr->{token}, $next_std), 403, 'forbidden', 'manager POST vat rate');
problem($t->api(POST => '/vat-rates', $ae->{token}, $next_std), 403, 'forbidden', 'AE POST vat rate');
problem($t->api(POST => '/vat-rates', $in->{token}, $next_std), 403, 'forbidden', 'integration POST vat rate');
problem($t->api(PATCH => "/vat-rates/$std->[1]{id}", $mgr->{token}, { valid_to => '2026-12-31' }), 403, 'forbidden',
        'manager PATCH vat rate');
problem($t->api(PATCH => "/vat-rates/$std->[1]{id}", $ae->{token}, { valid_to => '2026-12-31' }), 403, 'forbidden',
        'AE PATCH vat rate');
is(snapshot(), $snap, 'nothing written by forbidden vat writes');
ok(!defined rates('standard')->[1]{valid_to}, 'standard 2100 still open');

# --- overlaps ----------------------------------------------------------------------
for my $case (
    [{ category => 'standard', rate_bp => 2200, valid_from => '2026-01-01' },                           'inside the open 2100'],
    [{ category => 'standard', rate_bp => 2200, valid_from => '2030-01-01', valid_to => '2030-12-31' }, 'later, still inside the open 2100'],
    [{ category => 'standard', rate_bp => 1900, valid_from => '2025-07-31', valid_to => '2025-07-31' }, 'the last day of 1900'],
    [{ category => 'standard', rate_bp => 2100, valid_from => '2025-08-01', valid_to => '2025-08-01' }, 'the first day of 2100'],
    [{ category => 'reduced',  rate_bp => 1100, valid_from => '2027-01-01' },                           'README example while reduced 1100 is open'],
    [{ category => 'zero',     rate_bp => 0,    valid_from => '2028-01-01' },                           'zero is open'],
) {
    problem($t->api(POST => '/vat-rates', $adm, $case->[0]), 409, 'conflict', "overlap 409: $case->[1]");
}
is(snapshot(), $snap, 'nothing written by overlapping rates');

# Close the open standard rate, then add the next ones.
$r = $t->api(PATCH => "/vat-rates/$std->[1]{id}", $adm, { valid_to => '2026-12-31' });
is($r->{status}, 200, 'admin PATCH valid_to 200') or diag($r->{content});
is($r->{json}{valid_to}, '2026-12-31', 'valid_to set');
is($r->{json}{rate_bp}, 2100, 'rate kept');
is($r->{json}{version}, 2, 'version 2');
$r = $t->api(POST => '/vat-rates', $adm, { category => 'standard', rate_bp => 2300, valid_from => '2026-12-31',
                                           valid_to => '2027-06-30' });
problem($r, 409, 'conflict', 'overlap on the new last day (valid_to inclusive)');
$audit0 = $t->sql('select count(*) from audit_log');
$r = $t->api(POST => '/vat-rates', $adm, { category => 'standard', rate_bp => 2200, valid_from => '2027-01-01',
                                           valid_to => '2027-12-31' });
is($r->{status}, 201, 'POST the next standard rate, adjacent: 201') or diag($r->{content});
my $r2200 = $r->{json} || {};
like($r->{headers}{location} // '', qr{/vat-rates/\Q$r2200->{id}\E$}, 'Location');
is_deeply([@$r2200{qw(category rate_bp valid_from valid_to version)}], ['standard', 2200, '2027-01-01', '2027-12-31', 1],
          'rate fields');
is($t->sql('select count(*) from audit_log'), $audit0 + 1, 'audit row for the rate');
problem($t->api(PATCH => "/vat-rates/$std->[1]{id}", $adm, { valid_to => undef }), 409, 'conflict',
        'reopening 2100 would overlap 2200');
problem($t->api(PATCH => "/vat-rates/$std->[1]{id}", $adm, { valid_to => '2027-01-01' }), 409, 'conflict',
        'extending 2100 by one day overlaps 2200');
problem($t->api(PATCH => "/vat-rates/$r2200->{id}", $adm, { valid_from => '2026-12-31' }), 409, 'conflict',
        'moving 2200 back one day overlaps 2100');
is(rates('standard')->[1]{valid_to}, '2026-12-31', '2100 still ends 2026-12-31');

# rate_bp bounds.
$r = $t->api(POST => '/vat-rates', $adm, { category => 'standard', rate_bp => 10000, valid_from => '2028-01-01',
                                           valid_to => '2028-12-31' });
is($r->{status}, 201, 'rate_bp 10000 accepted') or diag($r->{content});
is($r->{json}{rate_bp}, 10000, 'rate_bp 10000 stored');
$r = $t->api(POST => '/vat-rates', $adm, { category => 'standard', rate_bp => 0, valid_from => '2029-01-01',
                                           valid_to => '2029-01-01' });
is($r->{status}, 201, 'rate_bp 0 accepted, one-day rate') or diag($r->{content});
is($r->{json}{rate_bp}, 0, 'rate_bp 0 stored');
$r = $t->api(POST => '/vat-rates', $adm, { category => 'standard', rate_bp => 1234, valid_from => '2029-01-02' });
is($r->{status}, 201, 'open-ended rate after the last one') or diag($r->{content});
ok(exists $r->{json}{valid_to} && !defined $r->{json}{valid_to}, 'valid_to null by default');
my $open = $r->{json} || {};
is_deeply([map { $_->{rate_bp} } @{ rates('standard') }], [1900, 2100, 2200, 10000, 0, 1234], 'standard rates in date order');

# --- validation --------------------------------------------------------------------
# Close the open 1234 rate so that the rows below overlap nothing if they were valid.
is($t->api(PATCH => "/vat-rates/$open->{id}", $adm, { valid_to => '2029-12-31' })->{status}, 200, 'close the 1234 rate');
my %ok = (category => 'standard', rate_bp => 2000, valid_from => '2031-01-01', valid_to => '2031-12-31');
is($t->api(POST => '/vat-rates', $adm, { %ok, valid_from => '2030-01-01', valid_to => '2030-12-31' })->{status}, 201,
   'a valid rate in 2030');
$snap = snapshot();
for my $case (
    [{ %ok, rate_bp => 10001 },              '#/rate_bp'],
    [{ %ok, rate_bp => -1 },                 '#/rate_bp'],
    [{ %ok, rate_bp => 19.5 },               '#/rate_bp'],
    [{ %ok, rate_bp => '2100' },             '#/rate_bp'],
    [{ %ok, rate_bp => undef },              '#/rate_bp'],
    [{ %ok, rate_bp => $T },                 '#/rate_bp'],
    [{ map { $_ => $ok{$_} } grep { $_ ne 'rate_bp' } keys %ok },    '#/rate_bp'],
    [{ %ok, category => 'luxury' },          '#/category'],
    [{ %ok, category => 'STANDARD' },        '#/category'],
    [{ map { $_ => $ok{$_} } grep { $_ ne 'category' } keys %ok },   '#/category'],
    [{ map { $_ => $ok{$_} } grep { $_ ne 'valid_from' } keys %ok }, '#/valid_from'],
    [{ %ok, valid_from => undef },           '#/valid_from'],
    [{ %ok, valid_from => '2031-02-30' },    '#/valid_from'],
    [{ %ok, valid_from => '2031-1-01' },     '#/valid_from'],
    [{ %ok, valid_from => '2031-01-01T00:00:00Z' }, '#/valid_from'],
    [{ %ok, valid_from => 20310101 },        '#/valid_from'],
    [{ %ok, valid_to => '2031-13-01' },      '#/valid_to'],
    [{ %ok, valid_to => '2030-12-31' },      '#/valid_to'],
    [{ %ok, valid_from => '2031-06-02', valid_to => '2031-06-01' }, '#/valid_to'],
    [{ %ok, note => 'x' },                   '#/note'],
) {
    my $r = $t->api(POST => '/vat-rates', $adm, $case->[0]);
    invalid($r, 422, 'validation', [$case->[1]], "vat rate invalid $case->[1] " . $SalesTest::JSON->encode($case->[0]));
}
invalid($t->api(PATCH => "/vat-rates/$r2200->{id}", $adm, { valid_to => '2026-12-31' }), 422, 'validation', ['#/valid_to'],
        'PATCH valid_to before valid_from');
invalid($t->api(PATCH => "/vat-rates/$r2200->{id}", $adm, { rate_bp => 22.5 }), 422, 'validation', ['#/rate_bp'],
        'PATCH rate_bp 22.5');
invalid($t->api(PATCH => "/vat-rates/$r2200->{id}", $adm, { rate_bp => 10001 }), 422, 'validation', ['#/rate_bp'],
        'PATCH rate_bp 10001');
invalid($t->api(PATCH => "/vat-rates/$r2200->{id}", $adm, { valid_from => undef }), 422, 'validation', ['#/valid_from'],
        'PATCH valid_from null');
invalid($t->api(PATCH => "/vat-rates/$r2200->{id}", $adm, { valid_from => '2027-02-29' }), 422, 'validation',
        ['#/valid_from'], 'PATCH valid_from 2027-02-29');
problem($t->api(POST => '/vat-rates', $adm, '{"rate_bp":'), 400, 'malformed', 'malformed rate body');
problem($t->api(PATCH => '/vat-rates/999999', $adm, { rate_bp => 100 }), 404, 'not-found', 'PATCH unknown rate');
is(snapshot(), $snap, 'nothing written by invalid rates');

$r = $t->api(PATCH => "/vat-rates/$r2200->{id}", $adm, { rate_bp => 2250 });
is($r->{status}, 200, 'PATCH rate_bp 200');
is($r->{json}{rate_bp}, 2250, 'rate_bp changed');
is($t->sql("select rate_bp from vat_rates where id = $r2200->{id}"), 2250, 'rate_bp in the db');

$t->stop;
done_testing;
