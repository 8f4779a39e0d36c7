# Contracts: made from an opportunity, a proposal or an order; sent as a
# frozen HTML document, signed with that document's SHA-256; states shown
# from the dates; amendments and renewals as new revisions; termination;
# the expiring_within review; visibility; the expiring and auto-renew
# sweep.
use strict;
use warnings;
use utf8;
use Test::More;
use lib 't/lib';
use SalesTest;
use Encode ();
use Digest::SHA qw(sha256_hex);
use Time::Local qw(timegm);
use Time::HiRes qw(sleep time);

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $t   = SalesTest->new;
my $adm = $t->{admin};
my $J   = $SalesTest::JSON;
my $T   = JSON::PP::true;
my $F   = JSON::PP::false;

# Every request carries the test clock; at() moves it.
my $NOW = '2026-12-10T09:00:00Z';
sub at    { $NOW = shift }
sub today { substr($NOW, 0, 10) }
sub tok   { ref $_[0] ? $_[0]{token} : $_[0] }
sub call {
    my ($method, $path, $who, $body, $h) = @_;
    return $t->api($method, $path, tok($who), $body, { 'X-Sales-Test-Now' => $NOW, %{ $h || {} } });
}
# A read at another moment, the clock left where it is.
sub read_at {
    my ($when, $path, $who) = @_;
    return $t->api(GET => $path, tok($who // $adm), undef, { 'X-Sales-Test-Now' => $when });
}

sub epoch {
    my ($y, $mo, $d, $h, $mi, $s) = $_[0] =~ /^(\d{4})-(\d\d)-(\d\d)(?:T(\d\d):(\d\d):(\d\d)Z)?$/ or die "bad time $_[0]";
    return timegm($s // 0, $mi // 0, $h // 0, $d, $mo - 1, $y);
}
sub iso {
    my @g = gmtime shift;
    return sprintf '%04d-%02d-%02dT%02d:%02d:%02dZ', $g[5] + 1900, $g[4] + 1, @g[3, 2, 1, 0];
}
sub day_add { substr(iso(epoch($_[0]) + $_[1] * 86400), 0, 10) }

sub ids { [map { $_->{id} } @{ ref $_[0]{json} eq 'HASH' && ref $_[0]{json}{items} eq 'ARRAY' ? $_[0]{json}{items} : [] }] }
sub uenc { my $s = shift; $s =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge; $s }

# Every id of a list, following next_cursor.
sub walk {
    my ($path, $who, $limit, $when) = @_;
    my (@seen, $cursor, $pages);
    my $sep = $path =~ /\?/ ? '&' : '?';
    do {
        my $p = "$path${sep}limit=$limit" . (defined $cursor ? '&cursor=' . uenc($cursor) : '');
        my $r = $when ? read_at($when, "/contracts$p", $who) : call(GET => "/contracts$p", $who);
        if ($r->{status} != 200) { diag("walk $path: $r->{status} $r->{content}"); return [@seen, 'ERR'] }
        push @seen, @{ ids($r) };
        $cursor = $r->{json}{next_cursor};
        $pages++;
    } while (defined $cursor && $pages < 100);
    return \@seen;
}
sub in_list { my ($list, $id) = @_; scalar grep { $_ == $id } @$list }

# Counts that must not move when a request is refused.
sub snapshot {
    return join ' ', map { $t->sql($_) // 'ERR' }
        'select count(*) from contracts',
        'select coalesce(sum(version),0) from contracts',
        "select group_concat(id || ':' || status || ':' || coalesce(superseded_by_id, '-')) from (select * from contracts order by id)",
        "select coalesce(max(last), 0) from number_series where name like 'CTR-%'",
        $SalesTest::OUTBOX_COUNT,
        'select count(*) from audit_log';
}

# Outbox events of one type about one contract.
sub cevents {
    my ($type, $id) = @_;
    my $out = $t->sql("select payload from outbox where type = '$type' and subject_type = 'contract'"
                    . " and subject_id = $id order by id") // '';
    return [map { eval { $J->decode($_) } || {} } grep { length } split /\n/, $out];
}
sub last_audit {
    my ($id, $action) = @_;
    my $row = $t->sql("select user_id || '|' || changes from audit_log where object_type = 'contract'"
                    . " and object_id = $id and action = '$action' order by id desc limit 1") // '';
    my ($user, $changes) = split /\|/, $row, 2;
    return { user_id => $user, changes => eval { $J->decode($changes // '') } || {} };
}

sub get_contract {
    my ($id, $who) = @_;
    my $r = call(GET => "/contracts/$id", $who // $adm);
    return ref $r->{json} eq 'HASH' ? $r->{json} : {};
}
sub shown_at { my ($when, $id) = @_; (read_at($when, "/contracts/$id")->{json} || {})->{status} // '' }

my $SEQ = 0;
sub mkc {
    my ($who, $body, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = call(POST => '/contracts', $who, $body);
    is($r->{status}, 201, "$name: 201") or diag($r->{content});
    my $c = ref $r->{json} eq 'HASH' ? $r->{json} : {};
    $c->{id} //= 0;
    is($c->{number}, sprintf('CTR-%s-%04d', substr(today(), 0, 4), ++$SEQ), "$name: the next number of the series");
    like($r->{headers}{location} // '', qr{/contracts/$c->{id}$}, "$name: Location");
    return $c;
}
sub send_ok {
    my ($id, $who, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = call(POST => "/contracts/$id/send", $who // $adm);
    is($r->{status}, 200, "$name: send 200") or diag($r->{content});
    return $r->{json} || {};
}
sub sign_ok {
    my ($id, $who, $body, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = call(POST => "/contracts/$id/sign", $who // $adm, $body // { signed_by => 'Ion Ionescu, director' });
    is($r->{status}, 200, "$name: sign 200") or diag($r->{content});
    return $r->{json} || {};
}
# Created, sent and signed in one go.
sub signed_contract {
    my ($who, $body, $name) = @_;
    my $c = mkc($who, $body, $name);
    send_ok($c->{id}, $who, $name);
    return sign_ok($c->{id}, $who, undef, $name);
}
sub conflict {
    my ($method, $path, $who, $body, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $before = snapshot();
    problem(call($method, $path, $who, $body), 409, 'conflict', $name);
    is(snapshot(), $before, "$name: nothing written");
}
sub refused {
    my ($method, $path, $who, $body, $ptrs, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $before = snapshot();
    invalid(call($method, $path, $who, $body), 422, 'validation', $ptrs, $name);
    is(snapshot(), $before, "$name: nothing written");
}
sub bad_param {
    my ($path, $who, $param) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = call(GET => $path, $who);
    problem($r, 400, 'malformed', "GET $path");
    ok((grep { ($_->{pointer} // '') =~ /\Q$param\E$/ || ($_->{detail} // '') =~ /\b\Q$param\E\b/ }
        @{ ref $r->{json} eq 'HASH' && ref $r->{json}{errors} eq 'ARRAY' ? $r->{json}{errors} : [] }),
       "GET $path: names $param") or diag($r->{content});
}
sub document {
    my ($id, $who, $when) = @_;
    my $r = $when ? read_at($when, "/contracts/$id/document", $who) : call(GET => "/contracts/$id/document", $who // $adm);
    return $r;
}

# --- users, seller, catalogue, clients, opportunities, a proposal, orders ----------------------------
my $mgr = $t->user('manager');
my $m2  = $t->user('manager');
my $ua  = $t->user('ae', manager_id => $mgr->{id});
my $ua2 = $t->user('ae', manager_id => $mgr->{id});
my $ub  = $t->user('ae', manager_id => $m2->{id});
my $in  = $t->user('integration');

unlike(snapshot(), qr/ERR/, 'contracts, number_series, outbox and audit_log are readable');

my $seller = { name => 'Vânzător SRL', tax_id => 'RO14399840', city => 'Cluj-Napoca', address => 'Str. Memorandumului 1' };
must(call(PUT => '/settings/seller', $adm, $seller), 200, 'seller');

my $prod = must(call(POST => '/products', $mgr, { sku => 'STD', name => 'Licenta ERP' }), 201, 'product')->{id};
my $list = must(call(POST => '/price-lists', $mgr, { name => 'Lista', currency => 'RON', is_default => $T }), 201, 'list');
must(call(POST => "/price-lists/$list->{id}/items", $mgr, { product_id => $prod, unit_price_minor => 5000 }), 201, 'item');

sub mkclient { my ($who, %f) = @_; must(call(POST => '/clients', $who, \%f), 201, "client $f{name}") }
my $cA  = mkclient($ua, name => 'Alfa SRL', address => 'Str. Lungă 3', city => 'Brașov');
my $cX  = mkclient($ua, name => 'Arhivat SRL');
my $cA2 = mkclient($ua2, name => 'Alfa Doi SRL');
my $cB  = mkclient($ub, name => 'Beta SRL');

sub mkopp { my ($who, %f) = @_; must(call(POST => '/opportunities', $who, { expected_close => '2027-02-26', %f }), 201, "opportunity $f{title}") }
my $oA  = mkopp($ua, client_id => $cA->{id}, title => 'Alfa ERP', value_minor => 2500000);
my $oX  = mkopp($ua, client_id => $cX->{id}, title => 'Arhivat ERP');
my $oA2 = mkopp($ua2, client_id => $cA2->{id}, title => 'Alfa Doi ERP', value_minor => 100000);
my $oB  = mkopp($ub, client_id => $cB->{id}, title => 'Beta ERP', value_minor => 700000);
must(call(POST => "/clients/$cX->{id}/archive", $ua), 200, 'archive Arhivat SRL');

my $pA = must(call(POST => '/proposals', $ua, { opportunity_id => $oA->{id}, lines => [{ product_id => $prod, quantity => 3 }] }),
              201, 'proposal');
my $pB = must(call(POST => '/proposals', $ub, { opportunity_id => $oB->{id}, lines => [{ product_id => $prod, quantity => 1 }] }),
              201, 'proposal of the other AE');
ok($pA->{gross_minor} > 0, "the proposal's gross is $pA->{gross_minor}");

# Orders have no API in this tree yet: rows as an order would be stored.
my $ms = epoch($NOW) * 1000;
sub mkorder {
    my ($n, $client, $owner, $opp, $prop, $gross) = @_;
    $t->sql("INSERT INTO sales_orders (number, client_id, owner_id, opportunity_id, proposal_id, currency, status,"
          . " price_date, gross_minor, created_at, updated_at) VALUES ('CMD-T-$n', $client, $owner, $opp, $prop, 'RON',"
          . " 'confirmed', '2026-12-10', $gross, $ms, $ms)");
    return 0 + ($t->sql("SELECT id FROM sales_orders WHERE number = 'CMD-T-$n'") // 0);
}
my $ord1 = mkorder(1, $cA->{id}, $ua->{id}, 'NULL', $pA->{id}, 18150);
my $ord2 = mkorder(2, $cA->{id}, $ua->{id}, $oA->{id}, 'NULL', 990000);
my $ordB = mkorder(3, $cB->{id}, $ub->{id}, $oB->{id}, $pB->{id}, 5000);
ok($ord1 && $ord2 && $ordB, 'three orders');

my %year = (start_date => '2027-01-01', end_date => '2027-12-31');

# === creating: each source ===========================================================================
my $snap0 = snapshot();
my $c1 = mkc($ua, { opportunity_id => $oA->{id}, title => 'Mentenanță ERP 2027', %year, terms => "Art. 1\nArt. 2",
                    notes => 'intern: negociat greu', client_signatory => 'Ion Ionescu, director' }, 'from an opportunity');
is($c1->{number}, 'CTR-2026-0001', 'the first number: CTR-2026-0001');
is_deeply([@$c1{qw(revision status renewal supersedes_id superseded_by_id)}], [1, 'draft', $F, undef, undef],
          'revision 1, draft, not a renewal, no revisions around it');
is_deeply([@$c1{qw(client_id owner_id currency)}], [$cA->{id}, $ua->{id}, 'RON'], 'client, owner, currency from the opportunity');
is_deeply([@$c1{qw(opportunity_id proposal_id order_id)}], [$oA->{id}, undef, undef], 'links: the opportunity');
is($c1->{value_minor}, 2500000, "value defaults to the opportunity's value");
is_deeply([@$c1{qw(notice_days auto_renew)}], [30, $F], 'notice 30 days, no auto-renew by default');
is_deeply([@$c1{qw(title start_date end_date terms notes client_signatory)}],
          ['Mentenanță ERP 2027', '2027-01-01', '2027-12-31', "Art. 1\nArt. 2", 'intern: negociat greu', 'Ion Ionescu, director'],
          'the fields as given');
ok(!defined $c1->{signed_at} && !defined $c1->{signed_by} && !defined $c1->{document_sha256} && !defined $c1->{sent_at},
   'not sent, not signed');
ok(!exists $c1->{signed_document}, 'the frozen document is never in the JSON');
is_deeply([@$c1{qw(created_at updated_at version)}], [$NOW, $NOW, 1], 'times and version');
is_deeply(get_contract($c1->{id}, $ua), $c1, 'GET answers what POST answered');
is(scalar @{ cevents('contract.created', $c1->{id}) }, 1, 'contract.created');
is(cevents('contract.created', $c1->{id})->[0]{data}{contract}{id}, $c1->{id}, 'contract.created carries the contract');
is(last_audit($c1->{id}, 'create')->{user_id}, $ua->{id}, 'the create is audited with the caller');
is_deeply(last_audit($c1->{id}, 'create')->{changes}{title}, [undef, 'Mentenanță ERP 2027'], 'audit: {title: [null, new]}');

my $c2 = mkc($ua, { proposal_id => $pA->{id}, title => 'Din oferta', %year }, 'from a proposal');
is_deeply([@$c2{qw(opportunity_id proposal_id order_id client_id owner_id)}], [$oA->{id}, $pA->{id}, undef, $cA->{id}, $ua->{id}],
          "links: the proposal and its opportunity");
is($c2->{value_minor}, $pA->{gross_minor}, "value defaults to the proposal's gross");

my $c3 = mkc($ua, { order_id => $ord1, title => 'Din comanda', %year }, 'from an order with a proposal');
is_deeply([@$c3{qw(opportunity_id proposal_id order_id)}], [$oA->{id}, $pA->{id}, $ord1],
          "links: the order, its proposal and the proposal's opportunity");
is($c3->{value_minor}, 18150, "value defaults to the order's gross");

my $c4 = mkc($ua, { order_id => $ord2, title => 'Comanda directa', start_date => '2026-01-01', end_date => '2026-11-30',
                    value_minor => 0, notice_days => 0 }, 'from an order without a proposal');
is_deeply([@$c4{qw(opportunity_id proposal_id order_id value_minor notice_days)}], [$oA->{id}, undef, $ord2, 0, 0],
          "links: the order and its opportunity; value 0 and notice 0 as given");

my $c5 = mkc($mgr, { opportunity_id => $oA->{id}, title => 'Pe termen lung', start_date => '2027-01-01', end_date => '2099-12-31',
                     auto_renew => $T, notice_days => 365, value_minor => 1_000_000_000_000_000 },
             "a manager for the team's AE");
is_deeply([@$c5{qw(owner_id auto_renew notice_days value_minor)}], [$ua->{id}, $T, 365, 1_000_000_000_000_000],
          "the opportunity's owner owns it; limits accepted");

# === refused creates write nothing and take no number ==============================================
my $snap = snapshot();
my %ok = (opportunity_id => $oA->{id}, title => 'T', %year);
for my $case (
    [{}, ['#/opportunity_id', '#/proposal_id', '#/order_id', '#/title', '#/start_date', '#/end_date'], 'empty body'],
    [{ %ok, proposal_id => $pA->{id} }, ['#/opportunity_id', '#/proposal_id'], 'two sources'],
    [{ %ok, proposal_id => $pA->{id}, order_id => $ord1 }, ['#/opportunity_id', '#/proposal_id', '#/order_id'], 'three sources'],
    [{ %ok, opportunity_id => undef }, ['#/opportunity_id', '#/proposal_id', '#/order_id'], 'a null source is none'],
    [{ %ok, opportunity_id => 999999 }, ['#/opportunity_id'], 'an unknown opportunity'],
    [{ %ok, opportunity_id => $oB->{id} }, ['#/opportunity_id'], "another AE's opportunity"],
    [{ %ok, opportunity_id => undef, proposal_id => $pB->{id} }, ['#/proposal_id'], "another AE's proposal"],
    [{ %ok, opportunity_id => undef, order_id => $ordB }, ['#/order_id'], "another AE's order"],
    [{ %ok, opportunity_id => undef, order_id => 999999 }, ['#/order_id'], 'an unknown order'],
    [{ %ok, opportunity_id => $oX->{id} }, ['#/opportunity_id'], "an archived client's opportunity"],
    [{ %ok, opportunity_id => 'abc' }, ['#/opportunity_id'], 'a source that is not an id'],
    [{ %ok, end_date => '2027-01-01' }, ['#/end_date'], 'ends the day it starts'],
    [{ %ok, end_date => '2026-12-31' }, ['#/end_date'], 'ends before it starts'],
    [{ %ok, start_date => '2027-02-30' }, ['#/start_date'], 'not a date'],
    [{ %ok, start_date => undef }, ['#/start_date'], 'start_date null'],
    [{ %ok, notice_days => 366 }, ['#/notice_days'], 'notice 366 days'],
    [{ %ok, notice_days => -1 }, ['#/notice_days'], 'notice -1'],
    [{ %ok, value_minor => 1_000_000_000_000_001 }, ['#/value_minor'], 'value over 10^15'],
    [{ %ok, value_minor => -1 }, ['#/value_minor'], 'negative value'],
    [{ %ok, value_minor => 1.5 }, ['#/value_minor'], 'value not an integer'],
    [{ %ok, auto_renew => 'yes' }, ['#/auto_renew'], 'auto_renew not a boolean'],
    [{ %ok, title => '' }, ['#/title'], 'empty title'],
    [{ %ok, title => 'x' x 201 }, ['#/title'], 'title of 201'],
    [{ %ok, terms => 'x' x 20001 }, ['#/terms'], 'terms of 20001'],
    [{ %ok, notes => 'x' x 10001 }, ['#/notes'], 'notes of 10001'],
    [{ %ok, client_signatory => 'x' x 201 }, ['#/client_signatory'], 'signatory of 201'],
    [{ %ok, title => "a\nb" }, ['#/title'], 'a title on two lines'],
    [{ %ok, status => 'signed' }, ['#/status'], 'status is read-only'],
    [{ %ok, number => 'CTR-1' }, ['#/number'], 'number is read-only'],
    [{ %ok, client_id => $cA->{id} }, ['#/client_id'], 'client_id is read-only'],
    [{ %ok, owner_id => $ua->{id} }, ['#/owner_id'], 'owner_id is read-only'],
    [{ %ok, currency => 'EUR' }, ['#/currency'], 'currency is read-only'],
    [{ %ok, document_sha256 => 'ab' }, ['#/document_sha256'], 'document_sha256 is read-only'],
    [{ %ok, signed_document => '<html>' }, ['#/signed_document'], 'signed_document is unknown'],
    [{ %ok, colour => 'red' }, ['#/colour'], 'unknown field'],
) {
    invalid(call(POST => '/contracts', $ua, $case->[0]), 422, 'validation', $case->[1], "create: $case->[2]");
}
problem(call(POST => '/contracts', $in, \%ok), 403, 'forbidden', 'integration may not create');
is(snapshot(), $snap, 'nothing written by the refused creates, no number taken');
my $c6 = mkc($ua2, { opportunity_id => $oA2->{id}, title => 'Alfa Doi', %year }, 'after the refusals: the next number');

# === editing a draft ================================================================================
at('2026-12-10T10:00:00Z');
my $r = call(PATCH => "/contracts/$c1->{id}", $ua, { title => 'Mentenanță ERP 2027 <b>&</b> "suport"', notes => undef,
                                                      value_minor => 2600000, notice_days => 45, client_signatory => "Ion Ionescu, director's office" });
is($r->{status}, 200, 'PATCH a draft 200') or diag($r->{content});
my $e1 = $r->{json} || {};
is_deeply([@$e1{qw(title notes value_minor notice_days version updated_at)}],
          ['Mentenanță ERP 2027 <b>&</b> "suport"', undef, 2600000, 45, 2, $NOW], 'the changes, a new version');
is_deeply(last_audit($c1->{id}, 'update')->{changes},
          { title => ['Mentenanță ERP 2027', 'Mentenanță ERP 2027 <b>&</b> "suport"'], notes => ['intern: negociat greu', undef],
            value_minor => [2500000, 2600000], notice_days => [30, 45],
            client_signatory => ['Ion Ionescu, director', "Ion Ionescu, director's office"] },
          'audit: {field: [old, new]} for each change');
must(call(PATCH => "/contracts/$c1->{id}", $ua, { notes => 'intern: atentie la clauza 2' }), 200, 'notes again');
for my $case (
    [{ opportunity_id => $oA->{id} }, ['#/opportunity_id'], 'the opportunity is fixed'],
    [{ proposal_id => $pA->{id} }, ['#/proposal_id'], 'the proposal is fixed'],
    [{ order_id => $ord1 }, ['#/order_id'], 'the order is fixed'],
    [{ end_date => '2026-12-31' }, ['#/end_date'], 'an end before the start'],
    [{ start_date => '2028-01-01' }, ['#/end_date'], 'a start after the end'],
    [{ title => undef }, ['#/title'], 'title null'],
    [{ value_minor => undef }, ['#/value_minor'], 'value null'],
    [{ auto_renew => undef }, ['#/auto_renew'], 'auto_renew null'],
    [{ status => 'signed' }, ['#/status'], 'status'],
    [{ revision => 2 }, ['#/revision'], 'revision'],
) {
    refused(PATCH => "/contracts/$c1->{id}", $ua, $case->[0], $case->[1], "PATCH: $case->[2]");
}
problem(call(PATCH => "/contracts/$c1->{id}", $in, { notes => 'x' }), 403, 'forbidden', 'integration may not edit');
problem(call(PATCH => '/contracts/999999', $ua, { notes => 'x' }), 404, 'not-found', 'PATCH an unknown contract');

# === the document of a draft =======================================================================
$r = document($c1->{id}, $ua);
is($r->{status}, 200, 'GET document 200');
like($r->{headers}{'content-type'} // '', qr{^text/html; charset=utf-8}i, 'text/html, UTF-8');
my $doc = Encode::decode('UTF-8', $r->{content});
like($doc, qr{<title>Contract CTR-2026-0001 rev\. 1</title>}, 'the page title: Contract CTR-2026-0001 rev. 1');
like($doc, qr{<h1>Contract CTR-2026-0001 rev\. 1</h1>}, 'the heading');
like($doc, qr/Vânzător SRL/, 'the seller');
like($doc, qr/RO14399840/, "the seller's tax id");
like($doc, qr/Alfa SRL/, 'the client');
like($doc, qr/Str\. Lungă 3/, "the client's address");
like($doc, qr/26\.000,00 RON/, 'the value');
like($doc, qr/2027-01-01/, 'the start date');
like($doc, qr/2027-12-31/, 'the end date');
like($doc, qr/45 zile/, 'the notice period');
like($doc, qr/Reînnoire automată<\/th><td>nu/, 'auto-renew: no');
like($doc, qr/Art\. 1<br>\nArt\. 2/, 'the terms, line breaks kept');
like($doc, qr/Ion Ionescu, director&#39;s office/, "the client's signatory, escaped");
like($doc, qr/Mentenanță ERP 2027 &lt;b&gt;&amp;&lt;\/b&gt; &quot;suport&quot;/, 'the title, escaped');
unlike($doc, qr/<b>&/, 'no raw markup from a value');
unlike($doc, qr/intern|atentie/, 'the notes are never on the document');
$r = document($c5->{id}, $ua);
like(Encode::decode('UTF-8', $r->{content}), qr/Reînnoire automată<\/th><td>da/, 'auto-renew: yes');
like(Encode::decode('UTF-8', $r->{content}), qr/10\.000\.000\.000\.000,00 RON/, 'the largest value');
problem(document(999999, $ua), 404, 'not-found', 'document of an unknown contract');
is(document($c1->{id}, $in)->{status}, 200, 'integration reads a document');

# === sending freezes the document ===================================================================
at('2026-12-10T11:00:00Z');
refused(POST => "/contracts/$c1->{id}/send", $ua, { colour => 1 }, ['#/colour'], 'send takes no fields');
my $s1 = send_ok($c1->{id}, $ua, 'send c1');
is_deeply([@$s1{qw(status sent_at version)}], ['out_for_signature', $NOW, 4], 'out for signature, sent now');
ok(!defined $s1->{document_sha256}, 'no hash before the signature');
is(scalar @{ cevents('contract.sent', $c1->{id}) }, 1, 'contract.sent');
is_deeply(last_audit($c1->{id}, 'send')->{changes}{status}, ['draft', 'out_for_signature'], 'the send is audited');
my $frozen = document($c1->{id}, $ua)->{content};
is(document($c1->{id}, $ua)->{content}, $frozen, 'the same bytes twice');

conflict(PATCH => "/contracts/$c1->{id}", $ua, { notes => 'x' }, 'PATCH out for signature');
conflict(POST => "/contracts/$c1->{id}/send", $ua, undef, 'send again');
conflict(DELETE => "/contracts/$c1->{id}", $ua, undef, 'DELETE out for signature');
conflict(POST => "/contracts/$c1->{id}/amend", $ua, {}, 'amend out for signature');
conflict(POST => "/contracts/$c1->{id}/renew", $ua, { end_date => '2028-12-31' }, 'renew out for signature');
conflict(POST => "/contracts/$c1->{id}/terminate", $ua, { reason => 'x' }, 'terminate out for signature');

# What the client was sent stays what it was, whatever changes after.
must(call(PUT => '/settings/seller', $adm, { %$seller, name => 'Vânzător Nou SRL' }), 200, 'the seller renamed');
must(call(PATCH => "/clients/$cA->{id}", $ua, { address => 'Bd. Nou 9' }), 200, 'the client moved');
is(document($c1->{id}, $ua)->{content}, $frozen, 'the frozen document is unchanged by later changes');
like(Encode::decode('UTF-8', document($c2->{id}, $ua)->{content}), qr/Vânzător Nou SRL.*Bd\. Nou 9/s,
     "a draft's document is rendered afresh");

# Withdrawn, it is a draft again; sent again, it freezes anew.
my $w = call(POST => "/contracts/$c1->{id}/withdraw", $ua);
is($w->{status}, 200, 'withdraw 200') or diag($w->{content});
is_deeply([@{ $w->{json} || {} }{qw(status sent_at)}], ['draft', undef], 'a draft again, not sent');
is_deeply(last_audit($c1->{id}, 'withdraw')->{changes}{status}, ['out_for_signature', 'draft'], 'the withdrawal is audited');
conflict(POST => "/contracts/$c1->{id}/withdraw", $ua, undef, 'withdraw a draft');
conflict(POST => "/contracts/$c1->{id}/sign", $ua, { signed_by => 'X' }, 'sign a draft');
isnt(document($c1->{id}, $ua)->{content}, $frozen, 'the withdrawn draft renders afresh');
at('2026-12-11T08:00:00Z');
send_ok($c1->{id}, $ua, 'send c1 again');
$frozen = document($c1->{id}, $ua)->{content};
like(Encode::decode('UTF-8', $frozen), qr/Vânzător Nou SRL/, 'frozen anew with the new seller');
is(scalar @{ cevents('contract.sent', $c1->{id}) }, 2, 'a second contract.sent');

# === signing ========================================================================================
at('2026-12-11T10:00:00Z');
for my $case (
    [{}, ['#/signed_by'], 'no signatory'],
    [{ signed_by => '' }, ['#/signed_by'], 'an empty signatory'],
    [{ signed_by => 'x' x 201 }, ['#/signed_by'], 'a signatory of 201'],
    [{ signed_by => 'X', signed_at => 'yesterday' }, ['#/signed_at'], 'signed_at not a time'],
    [{ signed_by => 'X', signed_at => '2026-12-11T10:00:01Z' }, ['#/signed_at'], 'signed_at in the future'],
    [{ signed_by => 'X', signed_at => '2026-12-11T07:59:59Z' }, ['#/signed_at'], 'signed before it was sent'],
    [{ signed_by => 'X', colour => 1 }, ['#/colour'], 'an unknown field'],
) {
    refused(POST => "/contracts/$c1->{id}/sign", $ua, $case->[0], $case->[1], "sign: $case->[2]");
}
problem(call(POST => "/contracts/$c1->{id}/sign", $in, { signed_by => 'X' }), 403, 'forbidden', 'integration may not sign');
my $g1 = sign_ok($c1->{id}, $ua, { signed_by => 'Ion Ionescu, director general', signed_at => '2026-12-11T09:30:00Z' }, 'sign c1');
is_deeply([@$g1{qw(status signed_at signed_by signed_recorded_by)}],
          ['signed', '2026-12-11T09:30:00Z', 'Ion Ionescu, director general', $ua->{id}],
          'signed (it starts in the future), when and by whom, recorded by the caller');
like($g1->{document_sha256} // '', qr/^[0-9a-f]{64}$/, 'document_sha256: 64 lower-case hex digits');
my $after = document($c1->{id}, $ua)->{content};
is($after, $frozen, 'the document after signing is the frozen one');
is(sha256_hex($after), $g1->{document_sha256}, 'SHA-256 of GET document equals document_sha256');
my $sev = cevents('contract.signed', $c1->{id});
is(scalar @$sev, 1, 'contract.signed');
is($sev->[0]{data}{contract}{document_sha256}, $g1->{document_sha256}, 'the event carries the hash');
is_deeply(last_audit($c1->{id}, 'sign')->{changes},
          { status => ['out_for_signature', 'signed'], signed_at => [undef, '2026-12-11T09:30:00Z'],
            signed_by => [undef, 'Ion Ionescu, director general'], signed_recorded_by => [undef, $ua->{id}],
            document_sha256 => [undef, $g1->{document_sha256}] }, 'the signature is audited');

# A signed contract is never edited.
conflict(PATCH => "/contracts/$c1->{id}", $ua, { notes => 'x' }, 'PATCH a signed contract');
conflict(PATCH => "/contracts/$c1->{id}", $adm, { title => 'x' }, 'PATCH a signed contract as admin');
conflict(POST => "/contracts/$c1->{id}/send", $ua, undef, 'send a signed contract');
conflict(POST => "/contracts/$c1->{id}/sign", $ua, { signed_by => 'Y' }, 'sign again');
conflict(POST => "/contracts/$c1->{id}/withdraw", $ua, undef, 'withdraw a signed contract');
conflict(DELETE => "/contracts/$c1->{id}", $ua, undef, 'DELETE a signed contract');
is(sha256_hex(document($c1->{id}, $ua)->{content}), $g1->{document_sha256}, 'still the same document');

# signed_at defaults to now.
send_ok($c3->{id}, $ua, 'send c3');
my $g3 = sign_ok($c3->{id}, $ua, { signed_by => 'Maria Pop' }, 'sign c3');
is($g3->{signed_at}, $NOW, 'signed_at defaults to now');
is(sha256_hex(document($c3->{id}, $ua)->{content}), $g3->{document_sha256}, 'c3: the hash of its document');

# === the shown states follow the dates ===============================================================
is(shown_at('2026-12-31T23:59:59Z', $c1->{id}), 'signed', 'the day before the start: signed');
is(shown_at('2027-01-01T00:00:00Z', $c1->{id}), 'active', 'on the start date: active');
is(shown_at('2027-12-31T23:59:59Z', $c1->{id}), 'active', 'on the end date: active');
is(shown_at('2028-01-01T00:00:00Z', $c1->{id}), 'expired', 'the day after the end: expired');
is($t->sql("select status from contracts where id = $c1->{id}"), 'signed', 'stored: signed, whatever is shown');
for my $when ('2026-12-31T12:00:00Z', '2027-01-01T12:00:00Z', '2028-01-01T12:00:00Z') {
    my $shown = shown_at($when, $c1->{id});
    for my $st (qw(signed active expired)) {
        my $l = walk("?status=$st", $ua, 200, $when);
        is(!!in_list($l, $c1->{id}), $st eq $shown, "at $when status=$st " . ($st eq $shown ? 'lists' : 'leaves out') . ' c1');
        my $items = read_at($when, "/contracts?status=$st&limit=200", $ua)->{json}{items} || [];
        ok(!grep({ $_->{status} ne $st } @$items), "at $when: every item of status=$st reads $st");
    }
}
my $c4s = signed_contract($ua, { order_id => $ord2, title => 'Incheiat', start_date => '2026-01-01', end_date => '2026-11-30' },
                          'an expired one');
is($c4s->{status}, 'expired', 'signed after its end: expired at once');

# === amendments ======================================================================================
for my $case (
    [{ opportunity_id => $oA->{id} }, ['#/opportunity_id'], 'the source'],
    [{ end_date => '2026-06-01' }, ['#/end_date'], 'an end before the start'],
    [{ status => 'draft' }, ['#/status'], 'a status'],
    [{ colour => 1 }, ['#/colour'], 'an unknown field'],
) {
    refused(POST => "/contracts/$c3->{id}/amend", $ua, $case->[0], $case->[1], "amend: $case->[2]");
}
conflict(POST => "/contracts/$c2->{id}/amend", $ua, {}, 'amend a draft');
conflict(POST => "/contracts/$c4s->{id}/amend", $ua, {}, 'amend an expired contract');
$r = call(POST => "/contracts/$c1->{id}/amend", $ua, { value_minor => 2700000, terms => "Art. 1\nArt. 2\nArt. 3 (nou)" });
is($r->{status}, 201, 'amend 201') or diag($r->{content});
my $a1 = $r->{json} || {};
like($r->{headers}{location} // '', qr{/contracts/$a1->{id}$}, 'Location names the new revision');
is_deeply([@$a1{qw(number revision supersedes_id renewal status)}], ['CTR-2026-0001', 2, $c1->{id}, $F, 'draft'],
          'the same number, revision 2, amends c1, a draft');
is_deeply([@$a1{qw(value_minor terms)}], [2700000, "Art. 1\nArt. 2\nArt. 3 (nou)"], 'the changes applied');
my $g1now = get_contract($c1->{id});
is_deeply([@$a1{qw(title start_date end_date notice_days auto_renew client_signatory notes client_id owner_id opportunity_id
                   proposal_id order_id currency)}],
          [@$g1now{qw(title start_date end_date notice_days auto_renew client_signatory notes client_id owner_id opportunity_id
                      proposal_id order_id currency)}], 'the rest copied from c1');
ok(!defined $a1->{signed_at} && !defined $a1->{document_sha256} && !defined $a1->{sent_at}, 'no signature, not sent');
is_deeply($g1now, $g1, 'c1 itself is unchanged until the amendment is signed');
my $ce = cevents('contract.created', $a1->{id});
is(($ce->[0] || {})->{data}{supersedes_id}, $c1->{id}, 'contract.created for the amendment, naming what it amends');
conflict(POST => "/contracts/$c1->{id}/amend", $ua, {}, 'a second unsigned revision');
conflict(POST => "/contracts/$c1->{id}/renew", $ua, { end_date => '2028-12-31' }, 'a renewal beside an unsigned revision');
conflict(POST => "/contracts/$a1->{id}/amend", $ua, {}, 'amend the unsigned revision');
must(call(PATCH => "/contracts/$a1->{id}", $ua, { notice_days => 60 }), 200, 'the amendment is a draft to edit');
send_ok($a1->{id}, $ua, 'send the amendment');
like(Encode::decode('UTF-8', document($a1->{id}, $ua)->{content}), qr{Contract CTR-2026-0001 rev\. 2}, 'its document: rev. 2');
conflict(POST => "/contracts/$c1->{id}/amend", $ua, {}, 'another amendment while one is out for signature');
my $ga = sign_ok($a1->{id}, $ua, { signed_by => 'Ion Ionescu' }, 'sign the amendment');
is($ga->{status}, 'signed', 'the amendment is signed');
my $old = get_contract($c1->{id});
is_deeply([@$old{qw(status superseded_by_id)}], ['superseded', $a1->{id}], 'the amended revision is superseded by it');
is_deeply(last_audit($c1->{id}, 'supersede')->{changes}, { status => ['signed', 'superseded'], superseded_by_id => [undef, $a1->{id}] },
          'the superseding is audited');
conflict(POST => "/contracts/$c1->{id}/amend", $ua, {}, 'amend a superseded revision');
conflict(POST => "/contracts/$c1->{id}/renew", $ua, { end_date => '2028-12-31' }, 'renew a superseded revision');
conflict(POST => "/contracts/$c1->{id}/terminate", $ua, { reason => 'x' }, 'terminate a superseded revision');
ok(in_list(walk('?status=superseded', $ua, 200), $c1->{id}), 'status=superseded lists it');

# A signature whose earlier revision was terminated meanwhile is refused.
my $k1 = signed_contract($ua, { opportunity_id => $oA->{id}, title => 'De reziliat', %year }, 'k1');
my $k2 = must(call(POST => "/contracts/$k1->{id}/amend", $ua, { value_minor => 1 }), 201, 'amend k1');
send_ok($k2->{id}, $ua, 'send the amendment of k1');
must(call(POST => "/contracts/$k1->{id}/terminate", $ua, { reason => 'renuntare' }), 200, 'k1 terminated meanwhile');
conflict(POST => "/contracts/$k2->{id}/sign", $ua, { signed_by => 'X' }, 'sign an amendment of a terminated contract');

# === renewals ========================================================================================
refused(POST => "/contracts/$c3->{id}/renew", $ua, {}, ['#/end_date'], 'renew without end_date');
refused(POST => "/contracts/$c3->{id}/renew", $ua, { end_date => '2028-12-31', colour => 1 }, ['#/colour'], 'renew: unknown field');
refused(POST => "/contracts/$c3->{id}/renew", $ua, { end_date => '2028-12-31', title => 'x' }, ['#/title'],
        'renew: only dates, value and terms');
refused(POST => "/contracts/$c3->{id}/renew", $ua, { end_date => '2027-12-31' }, ['#/end_date'],
        'renew: an end not after the default start');
refused(POST => "/contracts/$c3->{id}/renew", $ua, { end_date => 'soon' }, ['#/end_date'], 'renew: not a date');
refused(POST => "/contracts/$c3->{id}/renew", $ua, { end_date => '2028-12-31', value_minor => -5 }, ['#/value_minor'],
        'renew: a negative value');
conflict(POST => "/contracts/$c2->{id}/renew", $ua, { end_date => '2028-12-31' }, 'renew a draft');
$r = call(POST => "/contracts/$c3->{id}/renew", $ua, { end_date => '2028-12-31', value_minor => 30000 });
is($r->{status}, 201, 'renew 201') or diag($r->{content});
my $n3 = $r->{json} || {};
is_deeply([@$n3{qw(number revision supersedes_id renewal status start_date end_date value_minor terms title)}],
          [$c3->{number}, 2, $c3->{id}, $T, 'draft', '2028-01-01', '2028-12-31', 30000, $c3->{terms}, $c3->{title}],
          'a renewal draft: revision 2, starts the day after the old end, the new end and value, the rest kept');
conflict(POST => "/contracts/$c3->{id}/renew", $ua, { end_date => '2029-12-31' }, 'a second renewal draft');
send_ok($n3->{id}, $ua, 'send the renewal');
sign_ok($n3->{id}, $ua, undef, 'sign the renewal');
my $o3 = get_contract($c3->{id});
is_deeply([@$o3{qw(status superseded_by_id)}], ['signed', $n3->{id}], 'the renewed one keeps its state, replaced by the renewal');
is(shown_at('2027-06-01T12:00:00Z', $c3->{id}), 'active', 'and runs to its own end');
is(shown_at('2028-01-01T12:00:00Z', $c3->{id}), 'expired', 'then expires');
is(shown_at('2028-01-01T12:00:00Z', $n3->{id}), 'active', 'while the renewal is active');
is_deeply(last_audit($c3->{id}, 'renew')->{changes}, { superseded_by_id => [undef, $n3->{id}] }, 'the replacement is audited');
conflict(POST => "/contracts/$c3->{id}/renew", $ua, { end_date => '2029-12-31' }, 'renew a replaced contract');
conflict(POST => "/contracts/$c3->{id}/amend", $ua, {}, 'amend a replaced contract');

# An expired contract is renewed too.
$r = call(POST => "/contracts/$c4s->{id}/renew", $ua, { end_date => '2027-11-30' });
is($r->{status}, 201, 'renew an expired contract 201') or diag($r->{content});
is(($r->{json} || {})->{start_date}, '2026-12-01', 'from the day after it ended');
$r = call(POST => "/contracts/$c1->{id}/renew", $ua, { end_date => '2029-12-31' });
problem($r, 409, 'conflict', 'renew c1 (superseded)');
$r = call(POST => "/contracts/$a1->{id}/renew", $ua, { start_date => '2028-02-01', end_date => '2029-01-31' });
is($r->{status}, 201, 'renew with a start of its own') or diag($r->{content});
is_deeply([@{ $r->{json} || {} }{qw(start_date end_date revision)}], ['2028-02-01', '2029-01-31', 3], 'its dates; revision 3');

# === termination =====================================================================================
my $tm = signed_contract($ua, { opportunity_id => $oA->{id}, title => 'Reziliabil', start_date => '2026-12-01',
                                end_date => '2027-11-30', notice_days => 45 }, 'an active one');
is($tm->{status}, 'active', 'active today');
for my $case (
    [{}, ['#/reason'], 'no reason'],
    [{ reason => '' }, ['#/reason'], 'an empty reason'],
    [{ reason => 'x' x 2001 }, ['#/reason'], 'a reason of 2001'],
    [{ reason => 'x', termination_date => '2026-12-10' }, ['#/termination_date'], 'a termination date before today'],
    [{ reason => 'x', termination_date => 'maine' }, ['#/termination_date'], 'not a date'],
    [{ reason => 'x', colour => 1 }, ['#/colour'], 'an unknown field'],
) {
    refused(POST => "/contracts/$tm->{id}/terminate", $ua, $case->[0], $case->[1], "terminate: $case->[2]");
}
conflict(POST => "/contracts/$c2->{id}/terminate", $ua, { reason => 'x' }, 'terminate a draft');
conflict(POST => "/contracts/$c4s->{id}/terminate", $ua, { reason => 'x' }, 'terminate an expired contract');
$r = call(POST => "/contracts/$tm->{id}/terminate", $ua, { reason => 'clientul renunta' });
is($r->{status}, 200, 'terminate 200') or diag($r->{content});
is_deeply([@{ $r->{json} || {} }{qw(status termination_date termination_reason terminated_at)}],
          ['terminated', '2027-01-25', 'clientul renunta', $NOW], 'terminated; the date defaults to today + 45 days of notice');
is(scalar @{ cevents('contract.terminated', $tm->{id}) }, 1, 'contract.terminated');
is_deeply(last_audit($tm->{id}, 'terminate')->{changes}{status}, ['active', 'terminated'], 'the termination is audited');
conflict(POST => "/contracts/$tm->{id}/terminate", $ua, { reason => 'x' }, 'terminate twice');
conflict(POST => "/contracts/$tm->{id}/amend", $ua, {}, 'amend a terminated contract');
conflict(POST => "/contracts/$tm->{id}/renew", $ua, { end_date => '2029-01-01' }, 'renew a terminated contract');
conflict(PATCH => "/contracts/$tm->{id}", $ua, { notes => 'x' }, 'PATCH a terminated contract');
is(shown_at('2028-06-01T00:00:00Z', $tm->{id}), 'terminated', 'terminated stays terminated');
$r = call(POST => "/contracts/$n3->{id}/terminate", $ua, { reason => 'nu mai e nevoie', termination_date => today() });
is_deeply([@{ $r->{json} || {} }{qw(status termination_date)}], ['terminated', today()],
          'a signed one not yet started, terminated today');

# === deleting a draft ================================================================================
$r = call(DELETE => "/contracts/$c2->{id}", $ua);
is($r->{status}, 204, 'DELETE a draft 204');
problem(call(GET => "/contracts/$c2->{id}", $ua), 404, 'not-found', 'gone');
is_deeply(last_audit($c2->{id}, 'delete')->{changes}{title}, ['Din oferta', undef], 'the deletion is audited whole');
problem(call(DELETE => "/contracts/$c2->{id}", $ua), 404, 'not-found', 'DELETE twice');

# === expiring_within: the weekly account review ======================================================
at('2026-12-11T12:00:00Z');
my $D = '2027-06-01';
my %x;
for my $case ([e0 => $D], [e60 => day_add($D, 60)], [e61 => day_add($D, 61)], [ex => day_add($D, -1)],
              [eT => day_add($D, 10)], [eR => day_add($D, 10)], [eA => day_add($D, 20)]) {
    $x{ $case->[0] } = signed_contract($ua, { opportunity_id => $oA->{id}, title => $case->[0], start_date => '2027-01-01',
                                              end_date => $case->[1] }, $case->[0]);
}
$x{eF} = signed_contract($ua, { opportunity_id => $oA->{id}, title => 'eF', start_date => day_add($D, 1),
                                end_date => day_add($D, 20) }, 'eF');
must(call(POST => "/contracts/$x{eT}{id}/terminate", $ua, { reason => 'gata' }), 200, 'eT terminated');
my $eR2 = must(call(POST => "/contracts/$x{eR}{id}/renew", $ua, { end_date => day_add($D, 400) }), 201, 'renew eR');
send_ok($eR2->{id}, $ua, 'eR2');
sign_ok($eR2->{id}, $ua, undef, 'eR2');
my $eA2 = must(call(POST => "/contracts/$x{eA}{id}/amend", $ua, { value_minor => 5 }), 201, 'amend eA');
send_ok($eA2->{id}, $ua, 'eA2');
sign_ok($eA2->{id}, $ua, undef, 'eA2');

my $when = "${D}T12:00:00Z";
my $l60 = walk('?owner=me&expiring_within=60', $ua, 200, $when);
ok(in_list($l60, $x{e0}{id}), 'expiring_within=60: ending today is in');
ok(in_list($l60, $x{e60}{id}), 'expiring_within=60: ending in exactly 60 days is in');
ok(!in_list($l60, $x{e61}{id}), 'expiring_within=60: ending in 61 days is out');
ok(!in_list($l60, $x{ex}{id}), 'expiring_within=60: ended yesterday is out');
ok(!in_list($l60, $x{eF}{id}), 'expiring_within=60: not yet started is out');
ok(!in_list($l60, $x{eT}{id}), 'expiring_within=60: terminated is out');
ok(!in_list($l60, $x{eR}{id}), 'expiring_within=60: replaced by a signed renewal is out');
ok(!in_list($l60, $eR2->{id}), 'expiring_within=60: the renewal, not yet started, is out');
ok(!in_list($l60, $x{eA}{id}), 'expiring_within=60: superseded by an amendment is out');
ok(in_list($l60, $eA2->{id}), 'expiring_within=60: the signed amendment is in');
my $items = read_at($when, '/contracts?expiring_within=60&limit=200', $ua)->{json}{items} || [];
ok(@$items && !grep({ $_->{status} ne 'active' || $_->{end_date} gt day_add($D, 60) || $_->{end_date} lt $D
                      || defined $_->{superseded_by_id} } @$items),
   'every item: active, ending within today..today+60, not replaced');
ok(in_list(walk('?expiring_within=61', $ua, 200, $when), $x{e61}{id}), 'expiring_within=61: 61 days is in');
my $l0 = walk('?expiring_within=0', $ua, 200, $when);
ok(in_list($l0, $x{e0}{id}) && !in_list($l0, $x{e60}{id}), 'expiring_within=0: only those ending today');
my $next = walk('?expiring_within=60', $ua, 200, day_add($D, 1) . 'T00:00:00Z');
ok(!in_list($next, $x{e0}{id}) && in_list($next, $x{e61}{id}), 'a day later: the one ended is out, 61 days is in');
ok(!in_list(walk('?expiring_within=60', $ub, 200, $when), $x{e0}{id}), "another AE does not see them");
ok(in_list(walk('?expiring_within=60&owner=team', $mgr, 200, $when), $x{e0}{id}), 'the manager sees the team\'s');
bad_param('/contracts?expiring_within=3651', $ua, 'expiring_within');
bad_param('/contracts?expiring_within=-1', $ua, 'expiring_within');
bad_param('/contracts?expiring_within=x', $ua, 'expiring_within');
ok(read_at($when, '/contracts?expiring_within=3650', $ua)->{status} == 200, 'expiring_within=3650 is allowed');

# === list filters ===================================================================================
my @all_ua = sort { $a <=> $b } split /\n/, $t->sql("select id from contracts where owner_id = $ua->{id}");
is_deeply(walk('', $ua, 200), \@all_ua, "an AE lists exactly their own");
is_deeply(walk('', $ua, 3), \@all_ua, 'pages of 3 walk the same list');
is_deeply(walk("?client_id=$cA2->{id}", $mgr, 200), [$c6->{id}], 'client_id');
is_deeply(walk("?opportunity_id=$oA2->{id}", $mgr, 200), [$c6->{id}], 'opportunity_id');
is_deeply(walk("?order_id=$ord1", $ua, 200), [$c3->{id}, $n3->{id}], 'order_id: the contract and its renewal');
is_deeply(walk("?proposal_id=$pA->{id}", $ua, 200), [$c3->{id}, $n3->{id}], 'proposal_id');
is_deeply(walk("?order_id=$ord1&status=terminated", $ua, 200), [$n3->{id}], 'order_id and status');
is_deeply(walk('?status=draft', $ua2, 200), [$c6->{id}], 'status=draft');
bad_param('/contracts?status=bogus', $ua, 'status');
bad_param('/contracts?owner=abc', $ua, 'owner');
bad_param('/contracts?order_id=x', $ua, 'order_id');
bad_param('/contracts?proposal_id=0', $ua, 'proposal_id');
bad_param('/contracts?limit=201', $ua, 'limit');
bad_param('/contracts?colour=red', $ua, 'colour');

# === visibility ======================================================================================
my $cb = signed_contract($ub, { opportunity_id => $oB->{id}, title => 'Beta', %year }, "the other AE's");
my $draft = mkc($ua, { opportunity_id => $oA->{id}, title => 'Ciorna', %year }, 'a draft of the AE');
my @routes = (
    [GET => ''], [GET => '/document'], [PATCH => '', { notes => 'x' }], [DELETE => ''],
    [POST => '/send'], [POST => '/withdraw'], [POST => '/sign', { signed_by => 'X' }], [POST => '/amend', {}],
    [POST => '/renew', { end_date => '2030-01-01' }], [POST => '/terminate', { reason => 'x' }],
);
my $vsnap = snapshot();
for my $who ([ub => $ub], ['another manager' => $m2], ['an AE of the same team' => $ua2]) {
    for my $id ($a1->{id}, $draft->{id}) {
        for my $rt (@routes) {
            problem(call($rt->[0], "/contracts/$id$rt->[1]", $who->[1], $rt->[2]), 404, 'not-found',
                    "$who->[0]: $rt->[0] /contracts/{id}$rt->[1]");
        }
    }
}
is(snapshot(), $vsnap, 'nothing written by the refused callers');
is_deeply(walk('', $ub, 200), [$cb->{id}], 'the other AE lists only their own');
is_deeply(walk('', $m2, 200), [$cb->{id}], "the other manager lists their team's only");
is(get_contract($a1->{id}, $mgr)->{id}, $a1->{id}, "the manager reads the team's contract");
is(document($a1->{id}, $mgr)->{status}, 200, "and its document");
my @team = sort { $a <=> $b } @all_ua, $draft->{id}, $c6->{id};
is_deeply(walk('?owner=team', $mgr, 200), \@team, "owner=team: the team's contracts");
is_deeply(walk('', $mgr, 200), \@team, "the manager's default list");
is_deeply(walk('?owner=me', $mgr, 200), [], 'the manager owns none');
is_deeply(walk("?owner=$ua2->{id}", $mgr, 200), [$c6->{id}], 'owner=<a team AE>');
is_deeply(walk("?owner=$ub->{id}", $mgr, 200), [], 'owner=<another team\'s AE>: nothing');
must(call(POST => "/contracts/$c6->{id}/send", $mgr), 200, "the manager sends the team's draft");
is(get_contract($cb->{id}, $in)->{id}, $cb->{id}, 'integration reads any contract');
is(scalar @{ walk('', $in, 200) }, scalar @{ walk('', $adm, 200) }, 'integration lists every contract');
problem(call(POST => "/contracts/$cb->{id}/terminate", $in, { reason => 'x' }), 403, 'forbidden', 'integration may not terminate');
problem(call(POST => "/contracts/$cb->{id}/amend", $in, {}), 403, 'forbidden', 'integration may not amend');
problem(call(DELETE => "/contracts/$draft->{id}", $in), 403, 'forbidden', 'integration may not delete');

# === the client's history ============================================================================
my $hist = must(call(GET => "/clients/$cA->{id}/history?limit=200", $ua), 200, 'history')->{items} || [];
my ($hc) = grep { $_->{kind} eq 'contract.created' && $_->{subject}{id} == $c1->{id} } @$hist;
my ($hs) = grep { $_->{kind} eq 'contract.signed' && $_->{subject}{id} == $c1->{id} } @$hist;
is_deeply([@{ $hc || {} }{qw(at user_id)}, ($hc || {})->{subject}{type}], ['2026-12-10T09:00:00Z', $ua->{id}, 'contract'],
          'history: contract.created when and by whom');
is(($hc || {})->{data}{number}, 'CTR-2026-0001', 'with its number');
is_deeply([@{ $hs || {} }{qw(at user_id)}], ['2026-12-11T09:30:00Z', $ua->{id}], 'history: contract.signed at signed_at');
is_deeply([@{ ($hs || {})->{data} || {} }{qw(signed_by document_sha256)}], ['Ion Ionescu, director general', $g1->{document_sha256}],
          'with who signed and the hash');
ok(!grep({ $_->{kind} eq 'contract.signed' && $_->{subject}{id} == $draft->{id} } @$hist), 'an unsigned one has no signed row');
ok(!grep({ $_->{kind} =~ /^contract/ && $_->{subject}{id} == $cb->{id} } @$hist), "another client's contracts are not in it");

# === events ===========================================================================================
for my $id (split /\n/, $t->sql('select id from contracts order by id')) {
    is(scalar @{ cevents('contract.created', $id) }, 1, "contract $id: one contract.created");
}
my $types = must(call(GET => '/webhooks/event-types', $adm), 200, 'event types');
my %known = map { (ref $_ ? ($_->{type} // $_->{name} // '') : $_) => 1 }
            @{ ref $types eq 'ARRAY' ? $types : ref $types eq 'HASH' ? ($types->{items} || $types->{types} || []) : [] };
ok($known{$_}, "event type $_ is listed") for qw(contract.created contract.sent contract.signed contract.expiring
                                                 contract.terminated contract.renewed);

$t->stop;

# === the sweep: contract.expiring and auto-renew ======================================================
# The sweep runs with the real clock, so the dates here are relative to
# the real today; rows are written in one transaction so a sweep sees all
# of them or none, then a reload starts threads that sweep at once.
my $s = SalesTest->new(http_extra => 'sales_webhook_poll 100ms;');
$t = $s;
my $sa = $s->user('ae');
my $sc = must($s->api(POST => '/clients', $sa->{token}, { name => 'Sweep SRL' }), 201, 'sweep client');
my $TODAY = substr(iso(time), 0, 10);
my ($Y) = $TODAY =~ /^(\d{4})/;
my $n = 0;
my (@rows, %sw);
sub row {
    my ($name, %f) = @_;
    $n++;
    my %v = (number => "'SW-$n'", revision => 1, status => "'signed'", notice_days => 30, auto_renew => 0,
             superseded_by_id => 'NULL', supersedes_id => 'NULL', renewal => 0, %f);
    $v{$_} = "'$v{$_}'" for grep { defined $f{$_} && $f{$_} =~ /^\d{4}-\d\d-\d\d$/ } keys %v;
    $sw{$name} = "SW-$n";
    push @rows, "INSERT INTO contracts (number, revision, client_id, owner_id, title, currency, start_date, end_date,"
        . " notice_days, auto_renew, status, superseded_by_id, supersedes_id, renewal, created_at, updated_at) VALUES"
        . " ($v{number}, $v{revision}, $sc->{id}, $sa->{id}, '$name', 'RON', $v{start_date}, $v{end_date},"
        . " $v{notice_days}, $v{auto_renew}, $v{status}, $v{superseded_by_id}, $v{supersedes_id}, $v{renewal}, 0, 0);";
}
sub D { day_add($TODAY, shift) }
row('X1', start_date => D(-100), end_date => D(20));
row('X2', start_date => D(-100), end_date => D(60));
row('X3', start_date => D(-100), end_date => D(61));
row('X4', start_date => D(-100), end_date => D(30), notice_days => 0);
row('X5', start_date => D(-100), end_date => D(31), notice_days => 0);
row('X6', start_date => D(-100), end_date => D(10), status => "'terminated'");
row('X7', start_date => D(-100), end_date => D(10), status => "'out_for_signature'");
row('X8', start_date => D(5), end_date => D(20));
row('X9r', start_date => D(11), end_date => D(400), renewal => 1);
row('X9', start_date => D(-100), end_date => D(10), superseded_by_id => "(SELECT id FROM contracts WHERE title = 'X9r')");
row('X10', start_date => D(-100), end_date => D(-1));
row('A1', start_date => ($Y - 2) . '-01-01', end_date => ($Y - 2) . '-12-31', auto_renew => 1);
row('A2', start_date => D(-50), end_date => D(-11), auto_renew => 1);
row('A3', start_date => D(-50), end_date => D(-5), auto_renew => 1, status => "'terminated'");
row('A4r', start_date => D(-4), end_date => D(300), renewal => 1);
row('A4', start_date => D(-50), end_date => D(-5), auto_renew => 1,
    superseded_by_id => "(SELECT id FROM contracts WHERE title = 'A4r')");
row('A5', start_date => D(-600), end_date => D(-600), auto_renew => 1);
is($s->sql("BEGIN; " . join(' ', @rows) . " COMMIT;"), '', 'the sweep rows are written');
my %swid = map { $_ => $s->sql("SELECT id FROM contracts WHERE number = '$sw{$_}' AND revision = 1") } keys %sw;

sub revisions {
    my $num = shift;
    return [map { [split /\|/, $_, -1] } grep { length } split /\n/,
            $s->sql("SELECT id || '|' || revision || '|' || start_date || '|' || end_date || '|' || status || '|'"
                  . " || renewal || '|' || coalesce(superseded_by_id, '') || '|' || coalesce(signed_at, '')"
                  . " FROM contracts WHERE number = '$num' ORDER BY revision") // ''];
}
sub expiring_ids {
    return [sort { $a <=> $b } grep { length } split /\n/,
            $s->sql("SELECT subject_id FROM outbox WHERE type = 'contract.expiring' AND subject_type = 'contract'") // ''];
}

$s->reload;
my $done = poll(sub { @{ revisions($sw{A5}) } >= 601 && @{ revisions($sw{A1}) } >= 3 && @{ revisions($sw{A2}) } >= 2 }, 30);
ok($done, 'the sweep caught up: A5 renewed 600 times') or diag(scalar @{ revisions($sw{A5}) });
sleep 1;

# A1: a calendar year, renewed year by year to this one.
my $a1r = revisions($sw{A1});
is_deeply([map { [@$_[1 .. 5]] } @$a1r],
          [[1, ($Y - 2) . '-01-01', ($Y - 2) . '-12-31', 'signed', 0], [2, ($Y - 1) . '-01-01', ($Y - 1) . '-12-31', 'signed', 1],
           [3, "$Y-01-01", "$Y-12-31", 'signed', 1]], 'A1: calendar years, whole years whatever the leap days');
is_deeply([map { $_->[6] } @$a1r], [$a1r->[1][0], $a1r->[2][0], ''], 'A1: each replaced by the next');
ok(!grep({ $_->[7] ne '' } @$a1r[1, 2]), 'A1: the renewals have no signature of their own');
my $a2r = revisions($sw{A2});
is_deeply([map { [@$_[1 .. 3]] } @$a2r], [[1, D(-50), D(-11)], [2, D(-10), D(29)]], 'A2: the same number of days, once');
is(scalar @{ revisions($sw{$_}) }, 1, "$_: not renewed") for qw(A3 A4 X10);
my $a5r = revisions($sw{A5});
is_deeply([@{ $a5r->[-1] }[1 .. 3]], [601, $TODAY, $TODAY], 'A5: period by period up to the one that holds today');
ok(!grep({ $a5r->[$_][2] ne D(-600 + $_) } 0 .. $#$a5r), 'A5: every day once, in order');
# One sweep is one transaction at one time: the renewals of each are bounded.
my @per = split /\n/, $s->sql("SELECT count(*) FROM contracts WHERE number = '$sw{A5}' AND revision > 1 GROUP BY created_at");
cmp_ok(scalar @per, '>=', 2, 'A5: caught up over more than one sweep');
ok(!grep({ $_ > 500 } @per), 'A5: at most 500 renewals in one sweep') or diag("@per");

my $ren = $s->sql("SELECT payload FROM outbox WHERE type = 'contract.renewed' AND subject_id = $a2r->[1][0]");
my $re = eval { $J->decode($ren // '') } || {};
is_deeply([@{ $re->{data}{contract} || {} }{qw(id revision renewal start_date end_date status signed_at)}, $re->{data}{renews_id}],
          [$a2r->[1][0], 2, $T, D(-10), D(29), 'active', undef, $a2r->[0][0]], 'contract.renewed: the new revision and what it renews');
is($s->sql("SELECT count(*) FROM outbox WHERE type = 'contract.renewed'"), 2 + 1 + 600, 'one contract.renewed per renewal');
is($s->sql("SELECT count(*) FROM audit_log WHERE object_type = 'contract' AND action = 'create' AND user_id IS NULL"
         . " AND object_id = $a2r->[1][0]"), 1, 'the renewal is audited, with no user');
is($s->sql("SELECT changes FROM audit_log WHERE object_type = 'contract' AND action = 'renew' AND object_id = $a2r->[0][0]"
         . " AND user_id IS NULL"), qq({"superseded_by_id":[null,$a2r->[1][0]]}), 'the renewed one too');

# contract.expiring: active, not replaced, within notice_days + 30 of the end.
my @want = ($swid{X1}, $swid{X2}, $swid{X4}, $a2r->[1][0], $a5r->[-1][0]);
push @want, $a1r->[2][0] if day_diff("$Y-12-31", $TODAY) <= 60;
sub day_diff { (epoch($_[0]) - epoch($_[1])) / 86400 }
my $got = poll(sub { my $g = expiring_ids(); @$g >= @want ? $g : undef }, 10) || expiring_ids();
is_deeply($got, [sort { $a <=> $b } @want],
          'contract.expiring for X1 (20 days), X2 (60 = notice + 30), X4 (notice 0, 30 days), the renewed A2 and A5;'
          . ' none for the others');
my $ex = eval { $J->decode($s->sql("SELECT payload FROM outbox WHERE type = 'contract.expiring' AND subject_id = $swid{X1}")) } || {};
is_deeply([@{ $ex->{data}{contract} || {} }{qw(id status end_date notice_days)}, $ex->{data}{days_left}],
          [$swid{X1}, 'active', D(20), 30, 20], 'the event: the contract and days_left');

$s->reload;
sleep 2;
is_deeply(expiring_ids(), $got, 'a later sweep writes no second contract.expiring');
is(scalar @{ revisions($sw{A5}) }, 601, 'and renews nothing twice');
is($s->sql("SELECT count(*) FROM outbox WHERE type = 'contract.renewed'"), 603, 'no second contract.renewed');

$s->stop;
done_testing;
