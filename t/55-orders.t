# Sales orders: converted from an accepted proposal (lines and snapshots
# carried over, the proposal converted), taken directly for a repeat order
# (priced from the client's list), every state rule, invoiced quantities
# per line, what a client bought before, and who sees what.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use SalesTest;
use SalesDocs;

my $t   = SalesTest->new;
my $adm = $t->{admin};
my $d   = SalesDocs->new($t);
my $mgr = $t->user('manager');
my $ae  = $t->user('ae', manager_id => $mgr->{id});
my $ae2 = $t->user('ae');

sub call { $d->call(@_) }
sub snapshot {
    return join ' ', map { $t->sql($_) // 'ERR' }
        "select group_concat(id || ':' || status || ':' || version, ',') from sales_orders",
        "select group_concat(id || ':' || status || ':' || version, ',') from proposals",
        'select count(*) from order_lines', 'select count(*) from number_series',
        'select coalesce(sum(last), 0) from number_series',
        $SalesTest::OUTBOX_COUNT, 'select count(*) from audit_log';
}
sub events { my ($type, $id) = @_; $t->sql("select count(*) from outbox where type = '$type' and subject_id = $id") }

my $c = $d->client($ae, name => 'Repetat SRL');

# === a direct order (workflow 3): prices from the client's own list =========================
{
    # The client's own list and a loyalty level: what the price check says is what the order charges.
    my $own = must(call(POST => '/price-lists', $adm, { name => 'Lista Repetat' }), 201, 'own list');
    must(call(POST => "/price-lists/$own->{id}/items", $adm,
              { product_id => $d->product('std'), unit_price_minor => 9000 }), 201, 'own price');
    must(call(POST => "/price-lists/$own->{id}/items", $adm,
              { product_id => $d->product('std'), min_quantity => 10, unit_price_minor => 8500 }), 201, 'break');
    must(call(POST => "/price-lists/$own->{id}/items", $adm,
              { product_id => $d->product('red'), unit_price_minor => 3000 }), 201, 'own price red');
    must(call(PATCH => "/clients/$c->{id}", $adm, { price_list_id => $own->{id} }), 200, 'client list');
    my $lvl = must(call(POST => '/loyalty/levels', $adm, { name => 'Argint', threshold_minor => 0, discount_bp => 500 }), 201, 'level');
    must(call(PUT => "/clients/$c->{id}/loyalty", $adm, { level_id => $lvl->{id} }), 200, 'level set');

    my $price = must(call(GET => "/prices?client_id=$c->{id}&product_id=" . $d->product('std') . '&quantity=12', $ae), 200, 'price check');
    my $r = call(POST => '/orders', $ae, { client_id => $c->{id}, client_reference => 'PO-4471',
                                          lines => $d->lines([[std => 12], [red => 3]]) });
    is($r->{status}, 201, 'a direct order: 201');
    my $o = $r->{json};
    like($r->{headers}{location} // '', qr{/orders/$r->{json}{id}$}, 'Location');
    like($o->{number}, qr/^SO-\d{4}-0001$/, 'numbered SO-YYYY-0001');
    is($o->{status}, 'draft', 'draft');
    is($o->{owner_id}, $ae->{id}, "owned by the client's owner");
    is($o->{currency}, 'RON', "in the client's currency");
    is($o->{lines}[0]{list_unit_price_minor}, 8500, "the client's list, its quantity break");
    is($o->{lines}[0]{net_minor}, $price->{net_minor}, 'the line charges what the price check answers');
    is($o->{lines}[0]{net_minor}, 96900, '12 x 85.00 less 5 % loyalty = 969.00');
    is($o->{lines}[0]{price_check}{price_list}{id}, $own->{id}, 'the snapshot names the list');
    is($o->{lines}[1]{rate_bp}, 1100, 'reduced VAT');
    is($o->{lines}[1]{net_minor}, 8550, '3 x 30.00 less 5 % = 85.50');
    is($o->{net_minor}, 96900 + 8550, 'net = sum of lines');
    is($o->{vat_minor}, 20349 + 941, 'VAT = sum of line VATs (969.00 at 21 %, 85.50 at 11 %)');
    is($o->{gross_minor}, $o->{net_minor} + $o->{vat_minor}, 'gross = net + VAT');
    is_deeply([map { $_->{rate_bp} } @{ $o->{vat} }], [2100, 1100], 'VAT per rate');
    is($o->{lines}[0]{remaining_quantity}, 12, 'nothing invoiced yet');
    is(events('order.created', $o->{id}), 1, 'order.created');

    # A later change of the list leaves the order as it was priced.
    must(call(POST => "/price-lists/$own->{id}/items", $adm,
              { product_id => $d->product('red'), min_quantity => 2, unit_price_minor => 1 }), 201, 'a new break');
    is(must(call(GET => "/orders/$o->{id}", $ae), 200, 'get')->{lines}[1]{net_minor}, 8550, 'snapshot kept');

    # PATCH of a draft: new lines are priced again, the rest stays.
    $r = call(PATCH => "/orders/$o->{id}", $ae, { delivery_date => '2027-01-15', lines => $d->lines([[std => 1]]) });
    is($r->{status}, 200, 'PATCH a draft');
    is($r->{json}{delivery_date}, '2027-01-15', 'a field changed');
    is(scalar @{ $r->{json}{lines} }, 1, 'lines replaced');
    is($r->{json}{lines}[0]{list_unit_price_minor}, 9000, 'priced again (1 is below the break)');
    is($r->{json}{gross_minor}, 8550 + 1796, 'totals again: 85.50 + 17.96 VAT');

    $r = call(PATCH => "/orders/$o->{id}", $ae, { client_id => 1 });
    invalid($r, 422, 'validation', ['#/client_id'], 'the client cannot change');

    $c->{order} = $o;
    $c->{list} = $own;
}

# === what cannot be ordered ==================================================================
{
    my $before = snapshot();
    invalid(call(POST => '/orders', $ae, {}), 422, 'validation', ['#/client_id', '#/lines'], 'an empty order');
    invalid(call(POST => '/orders', $ae, { client_id => $c->{id}, lines => [], colour => 'red' }), 422, 'validation',
            ['#/colour', '#/lines'], 'an unknown field and no lines');
    invalid(call(POST => '/orders', $ae, { client_id => $c->{id},
                                         lines => [{ product_id => $d->product('std'), quantity => 0 },
                                                   { product_id => 'x', quantity => 1 }] }),
            422, 'validation', ['#/lines/0/quantity', '#/lines/1/product_id'], 'lines named one by one');
    invalid(call(POST => '/orders', $ae, { client_id => $c->{id},
                                         lines => [{ product_id => $d->product('std'), quantity => 1 },
                                                   { product_id => 999999, quantity => 1 }] }),
            422, 'validation', ['#/lines/1/product_id'], 'a product that cannot be priced is named');
    invalid(call(POST => '/orders', $ae, { client_id => $c->{id}, lines => $d->lines([[std => 1, { unit_price_minor => 5 }]]) }),
            422, 'validation', ['#/lines/0/override_reason'], 'an override needs its reason');
    my $other = $d->client($ae2, name => 'Altul SRL');
    my $oo = $d->opportunity($ae2, $other);
    invalid(call(POST => '/orders', $ae2, { client_id => $other->{id}, opportunity_id => $oo->{id} + 1000,
                                          lines => $d->lines([[std => 1]]) }),
            422, 'validation', ['#/opportunity_id'], 'no such opportunity');
    my $own_opp = $d->opportunity($ae, $c);
    invalid(call(POST => '/orders', $ae, { client_id => $d->client($ae)->{id}, opportunity_id => $own_opp->{id},
                                         lines => $d->lines([[std => 1]]) }),
            422, 'validation', ['#/opportunity_id'], "another client's opportunity");
    invalid(call(POST => '/orders', $ae, { client_id => $other->{id}, lines => $d->lines([[std => 1]]) }),
            422, 'validation', ['#/client_id'], "another AE's client is not usable");
    my $arch = $d->client($ae, name => 'Arhivat SRL');
    must(call(POST => "/clients/$arch->{id}/archive", $ae), 200, 'archive');
    invalid(call(POST => '/orders', $ae, { client_id => $arch->{id}, lines => $d->lines([[std => 1]]) }),
            422, 'validation', ['#/client_id'], 'an archived client');
    # A snapshot after the fixtures above.
    $before = snapshot();
    invalid(call(POST => '/orders', $ae, { client_id => $c->{id}, lines => $d->lines([[std => 1], [std => 0]]) }),
            422, 'validation', ['#/lines/1/quantity'], 'a bad second line');
    is(snapshot(), $before, 'nothing written (no number taken) by refused orders');
}

# === states ==================================================================================
{
    my $o = $c->{order};
    my $r = call(POST => "/orders/$o->{id}/hold", $ae);
    problem($r, 409, 'conflict', 'a draft is not held');
    $r = call(POST => "/orders/$o->{id}/complete", $ae);
    problem($r, 409, 'conflict', 'a draft is not completed');
    $r = call(POST => "/orders/$o->{id}/confirm", $ae, { now => 1 });
    problem($r, 400, 'malformed', 'confirm takes no body');

    $r = call(POST => "/orders/$o->{id}/confirm", $ae);
    is($r->{status}, 200, 'confirm');
    is($r->{json}{status}, 'confirmed', 'confirmed');
    is($r->{json}{confirmed_by}, $ae->{id}, 'by whom');
    like($r->{json}{confirmed_at} // '', qr/^\d{4}-/, 'when');
    is(events('order.confirmed', $o->{id}), 1, 'order.confirmed');
    problem(call(POST => "/orders/$o->{id}/confirm", $ae), 409, 'conflict', 'confirmed twice');
    problem(call(PATCH => "/orders/$o->{id}", $ae, { notes => 'x' }), 409, 'conflict', 'a confirmed order is not edited');

    $r = call(POST => "/orders/$o->{id}/hold", $ae);
    is($r->{json}{status}, 'on_hold', 'on hold');
    problem(call(POST => '/invoices', $ae, { order_id => $o->{id} }), 409, 'conflict', 'an order on hold is not invoiced');
    $r = call(POST => "/orders/$o->{id}/resume", $ae);
    is($r->{json}{status}, 'confirmed', 'resumed to where it was');

    invalid(call(POST => "/orders/$o->{id}/cancel", $ae, {}), 422, 'validation', ['#/reason'], 'cancel needs a reason');

    # Invoiced in part: partially_invoiced, per line; cancel refused.
    my ($line) = @{ $o->{lines} };
    my $o2 = must(call(GET => "/orders/$o->{id}", $ae), 200, 'get');
    my $inv = $d->invoice($ae, $o2, [[$o2->{lines}[0]{id}, 1]]);
    is($inv->{status}, 'issued', 'the invoice is issued');
    $o2 = must(call(GET => "/orders/$o->{id}", $ae), 200, 'get');
    is($o2->{status}, 'invoiced', 'one line, all of it: invoiced');
    is($o2->{lines}[0]{invoiced_quantity}, 1, 'invoiced quantity per line');
    is($o2->{lines}[0]{remaining_quantity}, 0, 'remaining 0');
    problem(call(POST => "/orders/$o->{id}/cancel", $ae, { reason => 'client changed mind' }), 409, 'conflict',
            'an invoiced order is not cancelled');
    problem(call(POST => "/orders/$o->{id}/hold", $ae), 409, 'conflict', 'an invoiced order is not held');

    # Paid in full: completed by itself.
    must(call(POST => "/invoices/$inv->{id}/payments", $ae, { amount_minor => $inv->{gross_minor} }), 201, 'paid');
    $o2 = must(call(GET => "/orders/$o->{id}", $ae), 200, 'get');
    is($o2->{status}, 'completed', 'invoiced and paid: completed');
    like($o2->{completed_at} // '', qr/^\d{4}-/, 'completed_at');
    is(events('order.completed', $o->{id}), 1, 'order.completed');

    # A credit note gives the quantities back: the order can be invoiced again.
    my $cn = must(call(POST => "/invoices/$inv->{id}/credit-notes", $ae, { reason => 'returned' }), 201, 'storno');
    $o2 = must(call(GET => "/orders/$o->{id}", $ae), 200, 'get');
    is($o2->{lines}[0]{invoiced_quantity}, 0, 'the credit note gave the quantity back');
    is($o2->{status}, 'confirmed', 'and the order is confirmed again');

    # Credited in full, the order may be cancelled after all.
    my $o5 = $d->ok_call(POST => '/orders', $ae, { client_id => $c->{id}, lines => $d->lines([[std => 3]]) }, 201);
    $d->ok_call(POST => "/orders/$o5->{id}/confirm", $ae);
    my $i5 = $d->invoice($ae, $o5, [[$o5->{lines}[0]{id}, 1]]);
    $r = call(POST => "/orders/$o5->{id}/hold", $ae);
    is($r->{json}{status}, 'on_hold', 'held while partially invoiced');
    $d->ok_call(POST => "/invoices/$i5->{id}/credit-notes", $ae, { reason => 'returned' }, 201);
    $r = call(POST => "/orders/$o5->{id}/resume", $ae);
    is($r->{json}{status}, 'confirmed', 'resumed as its invoices say now (the credit note came while it was held)');
    $r = call(POST => "/orders/$o5->{id}/cancel", $ae, { reason => 'the client withdrew' });
    is($r->{json}{status}, 'cancelled', 'an order whose invoices are credited in full can be cancelled');

    # A cancel of a fresh order, with a reason; its draft invoice goes with it.
    my $o3 = $d->ok_call(POST => '/orders', $ae, { client_id => $c->{id}, lines => $d->lines([[std => 2]]) }, 201);
    $d->ok_call(POST => "/orders/$o3->{id}/confirm", $ae);
    my $draft = $d->ok_call(POST => '/invoices', $ae, { order_id => $o3->{id} }, 201);
    $r = call(POST => "/orders/$o3->{id}/cancel", $ae, { reason => 'duplicate order' });
    is($r->{status}, 200, 'cancel with nothing invoiced');
    is($r->{json}{status}, 'cancelled', 'cancelled');
    is($r->{json}{cancel_reason}, 'duplicate order', 'the reason');
    is(call(GET => "/invoices/$draft->{id}", $ae)->{status}, 404, 'its draft invoice is gone');
    is(events('order.cancelled', $o3->{id}), 1, 'order.cancelled');
    problem(call(POST => "/orders/$o3->{id}/confirm", $ae), 409, 'conflict', 'a cancelled order stays cancelled');

    # Complete by hand from invoiced.
    my $o4 = $d->ok_call(POST => '/orders', $ae, { client_id => $c->{id}, lines => $d->lines([[std => 2]]) }, 201);
    $d->ok_call(POST => "/orders/$o4->{id}/confirm", $ae);
    $d->invoice($ae, $o4);
    $r = call(POST => "/orders/$o4->{id}/complete", $ae);
    is($r->{json}{status}, 'completed', 'completed by hand once invoiced');
}

# === from an accepted proposal (workflow 1) ==================================================
{
    my $c2 = $d->client($ae, name => 'Ofertat SRL');
    my $opp = $d->opportunity($ae, $c2);
    my $p = $d->proposal($ae, $c2, [[std => 3], [red => 7, { discount_bp => 1000, override_reason => 'volume' }]],
                         opportunity => $opp);
    problem(call(POST => "/proposals/$p->{id}/convert", $ae), 409, 'conflict', 'a draft proposal is not converted');
    $d->ok_call(POST => "/proposals/$p->{id}/send", $ae, { recipients => [{ email => 'x@y.ro' }] });
    problem(call(POST => "/proposals/$p->{id}/convert", $ae), 409, 'conflict', 'a sent proposal is not converted');
    $d->ok_call(POST => "/proposals/$p->{id}/accept", $ae, {});
    invalid(call(POST => "/proposals/$p->{id}/convert", $ae, { lines => [] }), 422, 'validation', ['#/lines'],
            'convert takes no lines');

    my $r = call(POST => "/proposals/$p->{id}/convert", $ae, { client_reference => 'CMD-9' });
    is($r->{status}, 201, 'convert: 201');
    my $o = $r->{json};
    is($o->{proposal_id}, $p->{id}, 'the order names its proposal');
    is($o->{opportunity_id}, $opp->{id}, 'and its opportunity');
    is($o->{client_reference}, 'CMD-9', 'fields given');
    is($o->{status}, 'draft', 'a draft order');
    is_deeply([map { [@$_{qw(product_id quantity net_minor vat_minor discount_bp override_reason)}] } @{ $o->{lines} }],
              [map { [@$_{qw(product_id quantity net_minor vat_minor discount_bp override_reason)}] } @{ $p->{lines} }],
              'the same lines, amounts and overrides');
    is_deeply([map { $_->{price_check} } @{ $o->{lines} }], [map { $_->{price_check} } @{ $p->{lines} }], 'snapshots carried');
    is_deeply([map { $_->{proposal_line_id} } @{ $o->{lines} }], [map { $_->{id} } @{ $p->{lines} }], 'each line names its source');
    is($o->{gross_minor}, $p->{gross_minor}, 'the same total');
    my $pp = must(call(GET => "/proposals/$p->{id}", $ae), 200, 'proposal');
    is($pp->{status}, 'converted', 'the proposal is converted');
    like($pp->{converted_at} // '', qr/^\d{4}-/, 'converted_at');
    problem(call(POST => "/proposals/$p->{id}/reject", $ae, { note => 'no' }), 409, 'conflict', 'a converted proposal cannot be rejected');
    problem(call(POST => "/proposals/$p->{id}/convert", $ae), 409, 'conflict', 'converted once only');
    problem(call(POST => '/invoices', $ae, { proposal_id => $p->{id} }), 409, 'conflict', 'nor invoiced around its order');
    is(events('proposal.converted', $p->{id}), 1, 'proposal.converted');

    $r = call(POST => "/orders/$o->{id}/confirm", $ae);
    is($r->{json}{status}, 'confirmed', 'confirmed');
    my $oo = must(call(GET => "/opportunities/$opp->{id}", $ae), 200, 'opportunity');
    is($oo->{stage}, 'won', 'confirming the order wins the opportunity');

    my $list = must(call(GET => "/orders?proposal_id=$p->{id}", $ae), 200, 'list');
    is_deeply([map { $_->{id} } @{ $list->{items} }], [$o->{id}], 'GET /orders?proposal_id');

    my $doc = call(GET => "/orders/$o->{id}/document", $ae);
    is($doc->{status}, 200, 'the order document');
    like($doc->{headers}{'content-type'} // '', qr{^text/html}, 'as HTML');
    like($doc->{content}, qr/Comandă \Q$o->{number}\E/, 'titled with its number');
    like($doc->{content}, qr/CMD-9/, "the client's reference");
    $c2->{order} = $o;
    $c->{converted} = $c2;
}

# === what a client bought before ==============================================================
{
    my $r = call(GET => "/clients/$c->{id}/purchases", $ae);
    is($r->{status}, 200, 'purchases');
    my %by = map { $_->{product_id} => $_ } @{ $r->{json}{items} };
    my $std = $by{ $d->product('std') };
    ok($std, 'the product ordered');
    # orders: the first (1 after the PATCH, completed), o4 (2); o3 was cancelled
    is($std->{quantity}, 3, 'quantities of confirmed orders add up; a cancelled one does not count');
    is($std->{orders}, 2, 'in two orders');
    is($std->{currency}, 'RON', 'currency');
    like($std->{last_ordered_on} // '', qr/^\d{4}-\d\d-\d\d$/, 'last ordered on');
    is($std->{last_unit_net_minor}, 8550, 'the last net unit price');
    like($std->{last_document} // '', qr/^order SO-/, 'the last order');
    is(scalar @{ $r->{json}{items} }, 1, 'only what was bought');
    is(call(GET => "/clients/$c->{id}/purchases", $ae2)->{status}, 404, "another AE: 404");

    # Another AE's order for the same client (through an opportunity that AE
    # owns) is not this AE's to read, here either.
    my $opp = must(call(POST => '/opportunities', $adm, { client_id => $c->{id}, title => 'Shared', owner_id => $ae2->{id},
                                                          expected_close => '2027-06-30' }), 201, 'opportunity of ae2');
    my $theirs = must(call(POST => '/orders', $adm, { client_id => $c->{id}, opportunity_id => $opp->{id},
                                                      lines => $d->lines([[red => 9]]) }), 201, 'order of ae2');
    is($theirs->{owner_id}, $ae2->{id}, "owned by the opportunity's owner");
    must(call(POST => "/orders/$theirs->{id}/confirm", $adm), 200, 'confirm');
    $r = must(call(GET => "/clients/$c->{id}/purchases", $ae), 200, 'purchases');
    ok(!(grep { $_->{product_id} == $d->product('red') } @{ $r->{items} }), "another AE's order is left out");
    $r = must(call(GET => "/clients/$c->{id}/purchases", $adm), 200, 'purchases');
    ok((grep { $_->{product_id} == $d->product('red') } @{ $r->{items} }), 'an admin sees it');
}

# === who sees what =============================================================================
{
    my $o = $c->{order};
    for my $req ([GET => "/orders/$o->{id}"], [PATCH => "/orders/$o->{id}", {}], [POST => "/orders/$o->{id}/confirm"],
                 [POST => "/orders/$o->{id}/hold"], [POST => "/orders/$o->{id}/resume"],
                 [POST => "/orders/$o->{id}/cancel", { reason => 'x' }], [POST => "/orders/$o->{id}/complete"],
                 [GET => "/orders/$o->{id}/document"]) {
        my ($m, $path, $body) = @$req;
        is(call($m, $path, $ae2, $body)->{status}, 404, "another AE: $m $path is 404");
    }
    my $mine = must(call(GET => '/orders', $ae2), 200, 'list')->{items};
    ok(@$mine && !grep({ $_->{owner_id} != $ae2->{id} } @$mine), "another AE lists only their own");
    my $team = must(call(GET => '/orders?owner=team', $mgr), 200, 'manager');
    ok(scalar(grep { $_->{id} == $o->{id} } @{ $team->{items} }), "the AE's manager sees the order");
    my $other_mgr = $t->user('manager');
    is(call(GET => "/orders/$o->{id}", $other_mgr)->{status}, 404, 'another manager: 404');
    my $int = $t->user('integration');
    is(call(GET => "/orders/$o->{id}", $int)->{status}, 200, 'the integration reads');
    problem(call(POST => '/orders', $int, { client_id => $c->{id}, lines => $d->lines([[std => 1]]) }), 403,
            'forbidden', 'the integration does not write');
    my $f = must(call(GET => '/orders?status=completed', $ae), 200, 'filter');
    ok(!grep({ $_->{status} ne 'completed' } @{ $f->{items} }) && @{ $f->{items} }, 'status filter');
    problem(call(GET => '/orders?status=shipped', $ae), 400, 'malformed', 'an unknown state');
}

$t->stop;
done_testing;
