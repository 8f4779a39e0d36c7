use strict;
use warnings;
use utf8;
use Test::More;
use lib 't/lib';
use SalesTest;
use Time::Local qw(timegm);

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $t   = SalesTest->new;
my $adm = $t->{admin};
my $J   = $SalesTest::JSON;
my $T   = JSON::PP::true;

# Every request carries the test clock; at() moves it (always forward).
my $NOW = '2026-12-10T09:00:00Z';
sub at  { $NOW = shift }
sub tok { ref $_[0] ? $_[0]{token} : $_[0] }
sub call {
    my ($method, $path, $who, $body, $h, $inst) = @_;
    return ($inst // $t)->api($method, $path, tok($who), $body, { 'X-Sales-Test-Now' => $NOW, %{ $h || {} } });
}
sub replayed { lc($_[0]{headers}{'idempotent-replayed'} // '') eq 'true' }
sub snapshot {
    return join ' ', map { $t->sql($_) // 'ERR' }
        'select count(*) from proposals',
        'select coalesce(sum(version),0) from proposals',
        "select group_concat(id || ':' || status) from (select id, status from proposals order by id)",
        'select count(*) from proposal_recipients',
        $SalesTest::OUTBOX_COUNT,
        'select count(*) from audit_log';
}
sub rows { $t->sql("select count(*) from proposal_recipients where proposal_id = $_[0]") }
sub sent_events {
    my $pid = shift;
    my $out = $t->sql("select subject_type || '|' || subject_id || '|' || payload from outbox where type = 'proposal.sent' order by id") // '';
    my $n = 0;
    for my $row (grep { length } split /\n/, $out) {
        my ($st, $sid, $payload) = split /\|/, $row, 3;
        my $e = eval { $J->decode($payload) } || {};
        my $id = ref $e->{data} eq 'HASH' && ref $e->{data}{proposal} eq 'HASH' ? $e->{data}{proposal}{id} // 0 : 0;
        $n++ if ($st eq 'proposal' && $sid == $pid) || $id == $pid;
    }
    return $n;
}
sub getp {
    my ($id, $who) = @_;
    my $r = call(GET => "/proposals/$id", $who // $adm);
    return ref $r->{json} eq 'HASH' ? $r->{json} : {};
}

# The token of a recipient's links: both links carry the same one.
my $B64U = qr/[A-Za-z0-9_-]+/;
sub token_of {
    my ($rcp, $name, $prefix) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    $prefix //= '';
    my ($pix) = ($rcp->{pixel_url} // '') =~ m{^\Q$prefix\E/t/($B64U)\.gif$};
    my ($view) = ($rcp->{view_url} // '') =~ m{^\Q$prefix\E/p/($B64U)$};
    ok(defined $pix, "$name: pixel_url is $prefix/t/<token>.gif") or diag($rcp->{pixel_url} // 'undef');
    ok(defined $view, "$name: view_url is $prefix/p/<token>") or diag($rcp->{view_url} // 'undef');
    is($pix, $view, "$name: the same token in both links");
    return $pix // '';
}
# base64url without padding of at least 17 bytes: a 128-bit MAC plus what it signs.
sub token_shape {
    my ($tk, $pid, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    like($tk, qr/^[A-Za-z0-9_-]+$/, "$name: base64url alphabet, no padding");
    isnt(length($tk) % 4, 1, "$name: a length base64 can have");
    cmp_ok(int(length($tk) * 6 / 8), '>', 16, "$name: more than the 16 bytes of the MAC");
    unlike($tk, qr/^\d+$/, "$name: not a bare number");
    isnt($tk, "$pid", "$name: not the proposal id");
}
# Two tokens of independent MACs differ in most places.
sub far_apart {
    my ($x, $y, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $n = length($x) < length($y) ? length($x) : length($y);
    my $diff = abs(length($x) - length($y));
    $diff += substr($x, -$_ - 1, 1) ne substr($y, -$_ - 1, 1) ? 1 : 0 for 0 .. $n - 1;
    cmp_ok($diff, '>=', 10, "$name: the tokens differ in $diff places, not by an increment") or diag("$x\n$y");
}
my %SEEN;
sub fresh {
    my ($tk, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    ok(length $tk && !$SEEN{$tk}++, "$name: a token not seen before");
}

# --- data -------------------------------------------------------------------------------------------------
my $mgr = $t->user('manager');
my $ua  = $t->user('ae', manager_id => $mgr->{id});
my $ub  = $t->user('ae');
my $in  = $t->user('integration');
unlike(snapshot(), qr/ERR/, 'proposals, proposal_recipients and outbox are readable');

my $std = must(call(POST => '/products', $mgr, { sku => 'STD', name => 'Licenta ERP' }), 201, 'product')->{id};
my $def = must(call(POST => '/price-lists', $mgr, { name => 'Lista standard', is_default => $T }), 201, 'default list');
must(call(POST => "/price-lists/$def->{id}/items", $mgr, { product_id => $std, unit_price_minor => 5000 }), 201, 'item');
my $cA = must(call(POST => '/clients', $ua, { name => 'Alfa SRL' }), 201, 'client A');
my $cC = must(call(POST => '/clients', $ua, { name => 'Cealalta SRL' }), 201, 'another client of the AE');
my $cB = must(call(POST => '/clients', $ub, { name => 'Beta SRL' }), 201, "the other AE's client");
sub contact { my ($who, $cid, %f) = @_; must(call(POST => "/clients/$cid/contacts", $who, \%f), 201, "contact $f{name}") }
my $k1 = contact($ua, $cA->{id}, name => 'Director Achizitii', email => 'achizitii@alfa.ro', is_primary => $T);
my $k2 = contact($ua, $cA->{id}, name => 'Contabil Sef', email => 'contabilitate@alfa.ro');
my $k0 = contact($ua, $cA->{id}, name => 'Fara Email');
my $kC = contact($ua, $cC->{id}, name => 'Alt Client', email => 'x@cealalta.ro');
my $kB = contact($ub, $cB->{id}, name => 'Beta Contact', email => 'b@beta.ro');
my $oA = must(call(POST => '/opportunities', $ua, { client_id => $cA->{id}, title => 'Alfa ERP', expected_close => '2027-02-26' }),
              201, 'opportunity');
my $oB = must(call(POST => '/opportunities', $ub, { client_id => $cB->{id}, title => 'Beta ERP', expected_close => '2027-02-26' }),
              201, "the other AE's opportunity");
sub mkprop {
    my ($who, %b) = @_;
    my $r = call(POST => '/proposals', $who, { opportunity_id => $oA->{id}, lines => [{ product_id => $std, quantity => 1 }], %b });
    is($r->{status}, 201, 'create a proposal 201') or diag($r->{content});
    my $p = ref $r->{json} eq 'HASH' ? $r->{json} : {};
    $p->{id} //= 0;
    return $p;
}

# --- refused sends write nothing -----------------------------------------------------------------------------
my $p1 = mkprop($ua);
my $snap = snapshot();
for my $case (
    [{},                                                                     ['#/recipients']],
    [{ recipients => [] },                                                   ['#/recipients']],
    [{ recipients => 'achizitii@alfa.ro' },                                        ['#/recipients']],
    [{ recipients => [{ contact_id => $kC->{id} }] },                        ['#/recipients/0/contact_id']],
    [{ recipients => [{ contact_id => $kB->{id} }] },                        ['#/recipients/0/contact_id']],
    [{ recipients => [{ contact_id => 999999 }] },                           ['#/recipients/0/contact_id']],
    [{ recipients => [{ contact_id => "$k1->{id}" }] },                      ['#/recipients/0/contact_id']],
    [{ recipients => [{ contact_id => $k1->{id} }, { email => 'not-an-email' }] }, ['#/recipients/1/email']],
    [{ recipients => [{ contact_id => $k1->{id} }, { email => 'cfo@alfa' }] },     ['#/recipients/1/email']],
    [{ recipients => [{ contact_id => $k1->{id} }, { email => 'cfo@@alfa.ro' }] }, ['#/recipients/1/email']],
    [{ recipients => [{ contact_id => $k1->{id} }, { email => 5 }] },              ['#/recipients/1/email']],
    [{ recipients => [{ email => 'bad' }, { contact_id => 999999 }] },       ['#/recipients/0/email', '#/recipients/1/contact_id']],
    [{ recipients => [{ email => 'cfo@alfa.ro', colour => 'red' }] },        ['#/recipients/0/colour']],
    [{ recipients => [{ email => 'cfo@alfa.ro' }], colour => 'red' },        ['#/colour']],
) {
    my $name = join(',', @{ $case->[1] }) . ' ' . $J->encode($case->[0]);
    invalid(call(POST => "/proposals/$p1->{id}/send", $ua, $case->[0]), 422, 'validation', $case->[1], "send refused: $name");
}
{
    my $r = call(POST => "/proposals/$p1->{id}/send", $ua, { recipients => [{}] });
    problem($r, 422, 'validation', 'a recipient with neither contact nor address');
    ok(@{ pointers($r) } && !grep({ !m{^#/recipients/0(?:/|$)} } @{ pointers($r) }), 'named under #/recipients/0') or diag($r->{content});
    $r = call(POST => "/proposals/$p1->{id}/send", $ua, { recipients => [{ contact_id => $k0->{id} }] });
    problem($r, 422, 'validation', 'a contact without an e-mail address');
    ok(@{ pointers($r) } && !grep({ !m{^#/recipients/0(?:/|$)} } @{ pointers($r) }), 'named under #/recipients/0') or diag($r->{content});
}
problem(call(POST => "/proposals/$p1->{id}/send", $ua, '{"recipients":'), 400, 'malformed', 'malformed body');
problem(call(POST => '/proposals/999999/send', $ua, { recipients => [{ email => 'cfo@alfa.ro' }] }), 404, 'not-found', 'unknown proposal');
problem(call(POST => "/proposals/$p1->{id}/send", $ub, { recipients => [{ email => 'cfo@alfa.ro' }] }), 404, 'not-found',
        "another AE's proposal: 404");
problem(call(POST => "/proposals/$p1->{id}/send", $in, { recipients => [{ email => 'cfo@alfa.ro' }] }), 403, 'forbidden',
        'integration may not send');
problem(call(POST => "/proposals/$p1->{id}/send", undef, { recipients => [{ email => 'cfo@alfa.ro' }] }), 401, 'unauthorized',
        'no token');
is(snapshot(), $snap, 'refused sends write nothing');
is(getp($p1->{id})->{status}, 'draft', 'still a draft');
is(rows($p1->{id}), 0, 'no recipients yet');

# --- the first send ---------------------------------------------------------------------------------------------
my $audit0 = $t->sql('select count(*) from audit_log');
my $r = call(POST => "/proposals/$p1->{id}/send", $ua,
             { recipients => [{ contact_id => $k1->{id} }, { email => 'cfo@alfa.ro', name => 'CFO' }] });
is($r->{status}, 200, 'send 200') or diag($r->{content});
my $s = $r->{json} || {};
is(($s->{proposal} || {})->{status}, 'sent', 'the answer carries the proposal, sent');
is(($s->{proposal} || {})->{id}, $p1->{id}, 'the same proposal');
my $rc = ref $s->{recipients} eq 'ARRAY' ? $s->{recipients} : [];
is(scalar @$rc, 2, 'two recipients');
like(($rc->[0] || {})->{id} // '', qr/^\d+$/, 'recipient id');
is_deeply([@{ $rc->[0] || {} }{qw(contact_id email name)}], [$k1->{id}, 'achizitii@alfa.ro', 'Director Achizitii'],
          "a contact recipient takes the contact's address and name");
is_deeply([@{ $rc->[1] || {} }{qw(contact_id email name)}], [undef, 'cfo@alfa.ro', 'CFO'], 'an address recipient');
isnt(($rc->[0] || {})->{id}, ($rc->[1] || {})->{id}, 'distinct recipient ids');
my $t1 = token_of($rc->[0] || {}, 'contact recipient');
my $t2 = token_of($rc->[1] || {}, 'address recipient');
token_shape($t1, $p1->{id}, 'token 1');
token_shape($t2, $p1->{id}, 'token 2');
isnt($t1, $t2, 'tokens differ per recipient');
far_apart($t1, $t2, 'two recipients of one proposal');
fresh($_, 'first send') for $t1, $t2;
my $g = getp($p1->{id}, $ua);
is($g->{status}, 'sent', 'GET: sent');
is($g->{version}, 2, 'version 2');
is(rows($p1->{id}), 2, 'two proposal_recipients rows');
is($t->sql("select group_concat(email, ',') from (select email from proposal_recipients where proposal_id = $p1->{id} order by id)"),
   'achizitii@alfa.ro,cfo@alfa.ro', 'their addresses');
is(sent_events($p1->{id}), 1, 'outbox: proposal.sent');
cmp_ok($t->sql('select count(*) from audit_log'), '>', $audit0, 'the send is audited');
is($t->sql("select count(*) from outbox where type = 'proposal.sent'"), 1, 'one outbox row of type proposal.sent');

# --- sending again adds recipients --------------------------------------------------------------------------------
at('2026-12-10T10:00:00Z');
$r = call(POST => "/proposals/$p1->{id}/send", $ua, { recipients => [{ email => 'ceo@alfa.ro' }] });
is($r->{status}, 200, 'send a sent proposal again: 200') or diag($r->{content});
is((($r->{json} || {})->{proposal} || {})->{status}, 'sent', 'still sent');
my ($ceo) = grep { ($_->{email} // '') eq 'ceo@alfa.ro' } @{ ($r->{json} || {})->{recipients} || [] };
ok($ceo, 'the new recipient is answered');
ok(!defined(($ceo || {})->{name}), 'no name given: null');
my $t3 = token_of($ceo || {}, 'added recipient');
token_shape($t3, $p1->{id}, 'token 3');
fresh($t3, 'second send');
far_apart($t1, $t3, 'first and added recipient');
is(rows($p1->{id}), 3, 'recipients grow to three');
is(getp($p1->{id})->{status}, 'sent', 'GET: still sent');

# first viewed at 2026-12-10T10:00:00Z, stored like created_at (epoch milliseconds or text)
my $vts = ($t->sql("select created_at from proposals where id = $p1->{id}") // '') =~ /^\d{12,}$/
        ? timegm(0, 0, 10, 10, 11, 2026) * 1000 : "'2026-12-10T10:00:00Z'";
$t->sql("update proposals set status = 'viewed', first_viewed_at = $vts where id = $p1->{id}");
$r = call(POST => "/proposals/$p1->{id}/send", $ua, { recipients => [{ contact_id => $k2->{id} }] });
is($r->{status}, 200, 'send a viewed proposal again: 200') or diag($r->{content});
is((($r->{json} || {})->{proposal} || {})->{status}, 'viewed', 'still viewed');
my ($acct) = grep { ($_->{contact_id} // 0) == $k2->{id} } @{ ($r->{json} || {})->{recipients} || [] };
is(($acct || {})->{email}, 'contabilitate@alfa.ro', "the contact's address");
my $t4 = token_of($acct || {}, 'recipient of a viewed proposal');
fresh($t4, 'third send');
is(rows($p1->{id}), 4, 'recipients grow to four');
is(getp($p1->{id})->{status}, 'viewed', 'GET: still viewed');

# --- tokens differ per proposal; Idempotency-Key replays the same tokens -----------------------------------------
my $p2 = mkprop($ua);
my $body = { recipients => [{ contact_id => $k1->{id} }, { email => 'cfo@alfa.ro', name => 'CFO' }] };
$r = call(POST => "/proposals/$p2->{id}/send", $ua, $body, { 'Idempotency-Key' => 'send-p2' });
is($r->{status}, 200, 'send with an Idempotency-Key 200') or diag($r->{content});
my $rc2 = ($r->{json} || {})->{recipients} || [];
my $u1 = token_of($rc2->[0] || {}, 'second proposal, contact');
my $u2 = token_of($rc2->[1] || {}, 'second proposal, address');
fresh($_, 'second proposal') for $u1, $u2;
isnt($u1, $t1, 'the same contact on another proposal gets another token');
isnt($u2, $t2, 'the same address on another proposal gets another token');
far_apart($t1, $u1, 'one contact, two proposals');
$snap = snapshot();
my $rr = call(POST => "/proposals/$p2->{id}/send", $ua, $body, { 'Idempotency-Key' => 'send-p2' });
is($rr->{status}, 200, 'replay 200');
ok(replayed($rr), 'Idempotent-Replayed: true');
is_deeply($rr->{json}, $r->{json}, 'the replay answers the same links');
is_deeply([map { $_->{view_url} } @{ ($rr->{json} || {})->{recipients} || [] }], [map { $_->{view_url} } @$rc2], 'the same tokens');
is(snapshot(), $snap, 'the replay writes nothing');
is(rows($p2->{id}), 2, 'still two recipients');
problem(call(POST => "/proposals/$p2->{id}/send", $ua, { recipients => [{ email => 'other@alfa.ro' }] }, { 'Idempotency-Key' => 'send-p2' }),
        422, 'validation', 'the same key with another body');
is(snapshot(), $snap, 'nothing written');
$r = call(POST => "/proposals/$p2->{id}/send", $ua, $body);
is($r->{status}, 200, 'the same body without the key sends again: 200') or diag($r->{content});
my @again = map { token_of($_, 'sent again') } @{ ($r->{json} || {})->{recipients} || [] };
fresh($_, 'sent again to the same people') for @again;
is(rows($p2->{id}), 4, 'new recipient rows');

# A manager writes the team's records.
my $p3 = mkprop($ua);
$r = call(POST => "/proposals/$p3->{id}/send", $mgr, { recipients => [{ email => 'cfo@alfa.ro' }] });
is($r->{status}, 200, "the manager sends the team's proposal: 200") or diag($r->{content});
fresh(token_of((($r->{json} || {})->{recipients} || [])->[0] || {}, 'sent by the manager'), 'sent by the manager');

# A revision is sent with its own tokens.
$r = call(POST => "/proposals/$p3->{id}/revise", $ua);
is($r->{status}, 201, 'revise 201') or diag($r->{content});
my $p3r = ref $r->{json} eq 'HASH' ? $r->{json} : { id => 0 };
$r = call(POST => "/proposals/$p3r->{id}/send", $ua, { recipients => [{ email => 'cfo@alfa.ro' }] });
is($r->{status}, 200, 'send the revision 200') or diag($r->{content});
fresh(token_of((($r->{json} || {})->{recipients} || [])->[0] || {}, 'revision'), 'revision');
is(getp($p3->{id})->{status}, 'superseded', 'the first revision is superseded');

# --- what cannot be sent ------------------------------------------------------------------------------------------
my $pexp = mkprop($ua, valid_until => '2026-12-12');
must(call(POST => "/proposals/$pexp->{id}/send", $ua, { recipients => [{ email => 'cfo@alfa.ro' }] }), 200, 'send pexp');
my $pacc = mkprop($ua);
must(call(POST => "/proposals/$pacc->{id}/send", $ua, { recipients => [{ email => 'cfo@alfa.ro' }] }), 200, 'send pacc');
must(call(POST => "/proposals/$pacc->{id}/accept", $ua, { note => 'da' }), 200, 'accept pacc');
my $prej = mkprop($ua);
must(call(POST => "/proposals/$prej->{id}/send", $ua, { recipients => [{ email => 'cfo@alfa.ro' }] }), 200, 'send prej');
must(call(POST => "/proposals/$prej->{id}/reject", $ua, { note => 'nu' }), 200, 'reject prej');
at('2026-12-12T23:59:59Z');
is(getp($pexp->{id})->{status}, 'sent', 'sent on its last valid day');
at('2026-12-13T00:00:00Z');
is(getp($pexp->{id})->{status}, 'expired', 'expired the day after');
$snap = snapshot();
for my $x ([$pexp, 'an expired'], [$pacc, 'an accepted'], [$prej, 'a rejected'], [$p3, 'a superseded']) {
    problem(call(POST => "/proposals/$x->[0]{id}/send", $ua, { recipients => [{ email => 'late@alfa.ro' }] }), 409, 'conflict',
            "send $x->[1] proposal");
}
is(snapshot(), $snap, 'refused sends write nothing');
is(rows($pexp->{id}), 1, 'the expired proposal keeps its one recipient');

# --- sales_public_url prefixes the links ------------------------------------------------------------------------------
{
    my $t2i = SalesTest->new(http_extra => 'sales_public_url https://sales.example.ro;');
    my $a2  = $t2i->{admin};
    my $pid = must(call(POST => '/products', $a2, { sku => 'STD', name => 'Licenta' }, undef, $t2i), 201, 'product')->{id};
    my $l2  = must(call(POST => '/price-lists', $a2, { name => 'L', is_default => $T }, undef, $t2i), 201, 'list');
    must(call(POST => "/price-lists/$l2->{id}/items", $a2, { product_id => $pid, unit_price_minor => 100 }, undef, $t2i), 201, 'item');
    my $ae2 = $t2i->user('ae');
    my $c2 = must(call(POST => '/clients', $ae2, { name => 'Gama SRL' }, undef, $t2i), 201, 'client');
    my $o2 = must(call(POST => '/opportunities', $ae2, { client_id => $c2->{id}, title => 'G', expected_close => '2027-01-29' },
                       undef, $t2i), 201, 'opportunity');
    my $q = call(POST => '/proposals', $ae2, { opportunity_id => $o2->{id}, lines => [{ product_id => $pid, quantity => 1 }] },
                 undef, $t2i);
    is($q->{status}, 201, 'proposal on the second server') or diag($q->{content});
    $r = call(POST => '/proposals/' . (($q->{json} || {})->{id} // 0) . '/send', $ae2, { recipients => [{ email => 'g@gama.ro' }] },
              undef, $t2i);
    is($r->{status}, 200, 'send 200') or diag($r->{content});
    my $tk = token_of((($r->{json} || {})->{recipients} || [])->[0] || {}, 'with sales_public_url', 'https://sales.example.ro');
    token_shape($tk, 1, 'token under the public URL');
    $t2i->stop;
}

$t->stop;
done_testing;
