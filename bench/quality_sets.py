"""The labelled sets of bench/quality.py, written for this project (no outside data).

Each item is one passage, in Spanish and in English (the same facts), and one question about
it, in Spanish and in English, that paraphrases it with few words in common: a search must
find the passage by meaning, not by shared words. Four domains of the seeds' users: a dental
clinic, an online shop, legal and administrative texts, and chat exports (WhatsApp-style
messages). Items alternate between the tuning half (even position) and the held-out half (odd
position); targets are read on the held-out half only.
"""

from typing import NamedTuple


class Item(NamedTuple):
    """One passage with its question, in both languages."""

    domain: str
    passage_es: str
    passage_en: str
    question_es: str
    question_en: str


ITEMS: list[Item] = [
    # --- clinic --------------------------------------------------------------------------
    Item(
        "clinic",
        "La limpieza dental profesional dura unos cuarenta minutos e incluye la eliminación "
        "del sarro con ultrasonidos y un pulido final.",
        "A professional dental cleaning takes about forty minutes and includes removing "
        "tartar with ultrasound and a final polish.",
        "¿Cuánto tiempo me tendrán en el sillón para quitarme la placa endurecida?",
        "How long will I be in the chair to get the hardened plaque off my teeth?",
    ),
    Item(
        "clinic",
        "Tras una extracción de muela conviene no enjuagarse durante veinticuatro horas y "
        "evitar bebidas calientes para que se forme el coágulo.",
        "After a tooth extraction you should not rinse for twenty-four hours and should avoid "
        "hot drinks so that the clot can form.",
        "Me acaban de sacar una pieza, ¿qué cuidados debo tener el primer día?",
        "I just had a molar pulled; what should I be careful about on the first day?",
    ),
    Item(
        "clinic",
        "Los brackets de zafiro son casi invisibles porque el material es transparente, "
        "aunque su precio es algo mayor que el de los metálicos.",
        "Sapphire braces are almost invisible because the material is transparent, although "
        "they cost somewhat more than metal ones.",
        "¿Existe algún aparato de ortodoncia que apenas se note al sonreír?",
        "Is there an orthodontic appliance that people barely notice when I smile?",
    ),
    Item(
        "clinic",
        "La primera consulta de valoración es gratuita e incluye una radiografía panorámica y "
        "un presupuesto por escrito.",
        "The first assessment visit is free and includes a panoramic X-ray and a written quote.",
        "¿Tengo que pagar algo la primera vez que vaya para que me revisen?",
        "Do I have to pay anything the first time I come in to be checked?",
    ),
    Item(
        "clinic",
        "Los implantes de titanio necesitan entre tres y seis meses para integrarse en el "
        "hueso antes de colocar la corona definitiva.",
        "Titanium implants need between three and six months to bond with the bone before the "
        "permanent crown is placed.",
        "¿Cuánto hay que esperar desde que ponen el tornillo hasta tener el diente final?",
        "How long is the wait from the screw going in until I get the final tooth?",
    ),
    Item(
        "clinic",
        "El blanqueamiento en consulta aclara los dientes varios tonos en una sola sesión de "
        "una hora con gel de peróxido activado por luz.",
        "In-office whitening lightens teeth by several shades in a single one-hour session "
        "with a peroxide gel activated by light.",
        "Quiero una sonrisa más clara, ¿se puede conseguir en una única cita?",
        "I want a brighter smile; can that be done in just one appointment?",
    ),
    Item(
        "clinic",
        "Si sangran las encías al cepillarse puede tratarse de gingivitis; se recomienda una "
        "revisión periodontal y usar hilo dental a diario.",
        "Bleeding gums when brushing may be gingivitis; a periodontal check-up and daily "
        "flossing are recommended.",
        "Cuando me lavo la boca me sale sangre, ¿es algo de lo que preocuparme?",
        "I see blood in the sink every time I clean my teeth; should I worry?",
    ),
    Item(
        "clinic",
        "Las urgencias dentales se atienden los sábados por la mañana de nueve a dos, "
        "llamando antes al teléfono de guardia.",
        "Dental emergencies are seen on Saturday mornings from nine to two, after calling the "
        "on-call phone number.",
        "Tengo un dolor de muelas terrible y es fin de semana, ¿me pueden ver?",
        "My tooth is killing me and it is the weekend; can someone see me?",
    ),
    Item(
        "clinic",
        "La endodoncia consiste en retirar el nervio infectado, limpiar los conductos y "
        "sellarlos; suele hacerse con anestesia local en una o dos citas.",
        "A root canal means removing the infected nerve, cleaning the canals and sealing "
        "them; it is usually done under local anaesthetic in one or two visits.",
        "¿En qué consiste el tratamiento cuando hay que matar el nervio de un diente?",
        "What happens during the treatment when the nerve inside a tooth has to be taken out?",
    ),
    Item(
        "clinic",
        "Los niños deben acudir a su primera revisión dental al cumplir un año o cuando les "
        "salga el primer diente.",
        "Children should have their first dental check-up at one year of age or when their "
        "first tooth comes in.",
        "¿A qué edad debería llevar a mi bebé al odontólogo por primera vez?",
        "At what age should I first take my baby to see the dentist?",
    ),
    Item(
        "clinic",
        "Aceptamos pago fraccionado sin intereses hasta en doce meses para tratamientos de "
        "más de seiscientos euros.",
        "We accept interest-free instalments over up to twelve months for treatments costing "
        "more than six hundred euros.",
        "¿Puedo ir pagando poco a poco un tratamiento caro?",
        "Can I spread the cost of an expensive treatment over time?",
    ),
    Item(
        "clinic",
        "Las férulas de descarga nocturnas protegen el esmalte de quienes aprietan o rechinan "
        "los dientes mientras duermen.",
        "Night guards protect the enamel of people who clench or grind their teeth while they "
        "sleep.",
        "Mi pareja dice que hago ruido con la mandíbula por la noche, ¿qué me pueden poner?",
        "My partner says my jaw makes noises at night; what can you give me for that?",
    ),
    Item(
        "clinic",
        "Para cancelar o cambiar una cita hay que avisar con al menos veinticuatro horas; si "
        "no, se cobra una penalización de veinte euros.",
        "To cancel or move an appointment you must give at least twenty-four hours' notice; "
        "otherwise a twenty-euro fee is charged.",
        "Si no puedo ir a mi hora reservada, ¿con cuánta antelación debo decirlo?",
        "If I cannot make my booked slot, how far ahead do I need to tell you?",
    ),
    Item(
        "clinic",
        "Las carillas de porcelana son láminas finas que se adhieren a la cara frontal de los "
        "dientes para corregir su forma y su color.",
        "Porcelain veneers are thin shells bonded to the front of the teeth to correct their "
        "shape and colour.",
        "¿Qué opción hay para tapar dientes manchados o irregulares por delante?",
        "What can cover up stained or uneven front teeth?",
    ),
    # --- shop ----------------------------------------------------------------------------
    Item(
        "shop",
        "Los pedidos realizados antes de las dos de la tarde salen del almacén el mismo día y "
        "llegan en veinticuatro a cuarenta y ocho horas.",
        "Orders placed before two in the afternoon leave the warehouse the same day and "
        "arrive within twenty-four to forty-eight hours.",
        "Si compro esta mañana, ¿cuándo lo tendré en casa?",
        "If I buy this morning, when will it reach my door?",
    ),
    Item(
        "shop",
        "Dispones de treinta días naturales para devolver un artículo sin usar con su "
        "etiqueta; el reembolso se hace al mismo medio de pago.",
        "You have thirty calendar days to return an unused item with its tag; the refund goes "
        "back to the same payment method.",
        "No me convence lo que pedí, ¿hasta cuándo puedo mandarlo de vuelta?",
        "I am not happy with what I ordered; until when can I send it back?",
    ),
    Item(
        "shop",
        "El envío es gratuito en compras superiores a cincuenta euros dentro de la península; "
        "a Canarias y Baleares se aplica una tarifa fija.",
        "Shipping is free on purchases over fifty euros within the mainland; a flat rate "
        "applies to the Canary and Balearic Islands.",
        "¿A partir de qué importe no me cobran el transporte?",
        "From what basket total do you stop charging for delivery?",
    ),
    Item(
        "shop",
        "Puedes seguir tu paquete con el número de seguimiento que enviamos por correo "
        "electrónico en cuanto el transportista lo recoge.",
        "You can track your parcel with the tracking number we email you as soon as the "
        "courier collects it.",
        "¿Cómo sé por dónde va mi caja?",
        "How do I find out where my box is right now?",
    ),
    Item(
        "shop",
        "Aceptamos tarjeta, PayPal y Bizum; el pago contra reembolso tiene un recargo de tres "
        "euros.",
        "We accept cards, PayPal and Bizum; cash on delivery carries a three-euro surcharge.",
        "¿Puedo abonar en efectivo al repartidor cuando me lo entreguen?",
        "Can I hand the money to the delivery driver when the order arrives?",
    ),
    Item(
        "shop",
        "Las tallas de nuestras zapatillas son algo pequeñas; recomendamos elegir medio número "
        "más del habitual.",
        "Our trainers run slightly small; we recommend choosing half a size up from your "
        "usual one.",
        "¿El calzado deportivo me quedará justo si pido mi número de siempre?",
        "Will the running shoes feel tight if I order the size I normally wear?",
    ),
    Item(
        "shop",
        "Todos los aparatos electrónicos tienen tres años de garantía; la reparación o la "
        "sustitución no tiene coste para el cliente.",
        "All electronic devices come with a three-year warranty; repair or replacement costs "
        "the customer nothing.",
        "Se me ha estropeado el auricular que compré hace un año, ¿lo cubren?",
        "The headphones I bought a year ago stopped working; are they covered?",
    ),
    Item(
        "shop",
        "Si un producto llega dañado, envíanos una foto en las primeras cuarenta y ocho horas "
        "y te mandamos uno nuevo sin coste.",
        "If a product arrives damaged, send us a photo within the first forty-eight hours and "
        "we will ship a new one free of charge.",
        "La taza vino rota dentro del paquete, ¿qué hago?",
        "The mug was in pieces when I opened the parcel; what should I do?",
    ),
    Item(
        "shop",
        "Los códigos de descuento no son acumulables y deben introducirse en el carrito antes "
        "de confirmar el pago.",
        "Discount codes cannot be combined and must be entered in the basket before the "
        "payment is confirmed.",
        "¿Puedo usar dos cupones de rebaja en la misma compra?",
        "Can I apply two promo vouchers to one order?",
    ),
    Item(
        "shop",
        "Ofrecemos envoltorio de regalo por dos euros con una tarjeta personalizada y sin "
        "precio visible en el paquete.",
        "We offer gift wrapping for two euros with a personalised card and no price shown in "
        "the parcel.",
        "Es un obsequio para mi madre, ¿podéis presentarlo bonito y sin el importe?",
        "It is a present for my mum; can you make it look nice and leave out the receipt?",
    ),
    Item(
        "shop",
        "La tienda física del centro abre de lunes a sábado de diez a nueve y puedes recoger "
        "allí tu pedido online sin gastos.",
        "The city-centre store opens Monday to Saturday from ten to nine, and you can collect "
        "your online order there at no cost.",
        "¿Puedo pasar a buscar lo que compré por internet en vez de que me lo manden?",
        "Can I pick up my web order in person instead of having it delivered?",
    ),
    Item(
        "shop",
        "Para cambiar la dirección de entrega escribe a atención al cliente antes de que el "
        "pedido pase al estado enviado.",
        "To change the delivery address, write to customer service before the order's status "
        "changes to shipped.",
        "Me he mudado y el paquete va a mi piso antiguo, ¿se puede corregir?",
        "I moved house and the parcel is going to my old flat; can that be fixed?",
    ),
    Item(
        "shop",
        "Los productos de cosmética abiertos no admiten devolución por motivos de higiene, "
        "salvo defecto de fabricación.",
        "Opened cosmetics cannot be returned for hygiene reasons, except for manufacturing "
        "defects.",
        "Probé la crema y no me gusta, ¿me devolvéis el dinero?",
        "I tried the face cream and did not like it; can I get my money back?",
    ),
    Item(
        "shop",
        "Si te suscribes al boletín recibes un diez por ciento de descuento en tu primera "
        "compra y avisos de rebajas antes que nadie.",
        "Subscribing to the newsletter gives you ten percent off your first purchase and sale "
        "alerts before anyone else.",
        "¿Hay alguna ventaja por apuntarme a vuestros correos?",
        "Is there any perk for signing up to your mailing list?",
    ),
    # --- legal ---------------------------------------------------------------------------
    Item(
        "legal",
        "El inquilino debe entregar una fianza equivalente a una mensualidad de renta, que se "
        "devuelve al terminar el contrato si la vivienda está en buen estado.",
        "The tenant must pay a deposit equal to one month's rent, returned when the lease ends "
        "if the home is in good condition.",
        "¿Cuánto dinero adelanto al alquilar un piso y lo recupero después?",
        "How much money do I put down when renting a flat, and do I get it back later?",
    ),
    Item(
        "legal",
        "El trabajador tiene derecho a treinta días naturales de vacaciones retribuidas por "
        "año trabajado.",
        "An employee is entitled to thirty calendar days of paid holiday per year worked.",
        "¿Cuántos días libres pagados me corresponden al año en mi empleo?",
        "How many days off with pay does my job give me each year?",
    ),
    Item(
        "legal",
        "El periodo de prueba no puede exceder de seis meses para técnicos titulados ni de "
        "dos meses para el resto de trabajadores.",
        "The probation period may not exceed six months for qualified technicians or two "
        "months for other workers.",
        "¿Durante cuánto tiempo pueden echarme sin más al empezar en una empresa?",
        "For how long after starting can a company let me go without any reason?",
    ),
    Item(
        "legal",
        "Los datos personales se conservarán mientras dure la relación comercial y, después, "
        "durante los plazos legales de prescripción.",
        "Personal data will be kept for as long as the business relationship lasts and then "
        "for the legal limitation periods.",
        "¿Hasta cuándo guardan mi información privada?",
        "How long do you hold on to my private information?",
    ),
    Item(
        "legal",
        "El interesado puede ejercer sus derechos de acceso, rectificación y supresión "
        "escribiendo al delegado de protección de datos.",
        "Data subjects may exercise their rights of access, rectification and erasure by "
        "writing to the data protection officer.",
        "Quiero que borren todo lo que saben de mí, ¿a quién me dirijo?",
        "I want everything you know about me deleted; who do I contact?",
    ),
    Item(
        "legal",
        "El consumidor que compra a distancia puede desistir del contrato en un plazo de "
        "catorce días sin indicar el motivo.",
        "A consumer who buys at a distance may withdraw from the contract within fourteen "
        "days without giving a reason.",
        "Me arrepiento de algo que encargué por teléfono, ¿tengo margen para echarme atrás?",
        "I regret something I ordered over the phone; do I have time to back out?",
    ),
    Item(
        "legal",
        "Las facturas deben conservarse durante un mínimo de cuatro años a efectos fiscales.",
        "Invoices must be kept for at least four years for tax purposes.",
        "¿Cuánto tiempo tengo que guardar los recibos de mi negocio por si Hacienda pregunta?",
        "How long should my business keep its bills in case the tax office asks?",
    ),
    Item(
        "legal",
        "Cualquiera de las partes puede resolver el contrato de servicios con un preaviso "
        "escrito de treinta días.",
        "Either party may terminate the service agreement with thirty days' written notice.",
        "Si quiero dejar de trabajar con este proveedor, ¿con qué antelación lo comunico?",
        "If I want to stop working with this supplier, how much warning must I give?",
    ),
    Item(
        "legal",
        "La renta del alquiler se actualizará cada año según el índice de referencia, con un "
        "límite máximo del tres por ciento.",
        "The rent will be updated every year according to the reference index, capped at "
        "three percent.",
        "¿Me pueden subir lo que pago por el piso todos los años y cuánto como mucho?",
        "Can my landlord raise what I pay every year, and by how much at most?",
    ),
    Item(
        "legal",
        "El despido improcedente da derecho a una indemnización de treinta y tres días de "
        "salario por año trabajado.",
        "An unfair dismissal entitles the worker to compensation of thirty-three days' wages "
        "per year of service.",
        "Me han echado sin causa justificada, ¿qué compensación me toca?",
        "I was fired without a valid reason; what payout am I owed?",
    ),
    Item(
        "legal",
        "Las obras en el piso que afecten a la estructura del edificio requieren autorización "
        "previa de la comunidad de propietarios.",
        "Building work in a flat that affects the structure of the building needs the prior "
        "approval of the owners' association.",
        "Quiero tirar un muro de carga en mi casa, ¿necesito permiso de los vecinos?",
        "I want to knock down a load-bearing wall at home; do the neighbours have to agree?",
    ),
    Item(
        "legal",
        "Los menores de catorce años necesitan el consentimiento de sus padres o tutores para "
        "que se traten sus datos personales.",
        "Children under fourteen need the consent of their parents or guardians for their "
        "personal data to be processed.",
        "¿Puede mi hijo de doce años darse de alta solo en la aplicación?",
        "Can my twelve-year-old sign up for the app on his own?",
    ),
    Item(
        "legal",
        "La garantía legal de los bienes de consumo es de tres años desde la entrega y cubre "
        "las faltas de conformidad.",
        "The legal guarantee on consumer goods is three years from delivery and covers any "
        "lack of conformity.",
        "Por ley, ¿durante cuánto tiempo responde el vendedor si lo que compré sale mal?",
        "By law, how long is the seller responsible if what I bought turns out faulty?",
    ),
    Item(
        "legal",
        "Las horas extraordinarias se compensarán con descanso equivalente dentro de los "
        "cuatro meses siguientes o se pagarán con un recargo.",
        "Overtime will be compensated with equivalent rest within the following four months "
        "or paid at a premium.",
        "Si me quedo más tarde de mi jornada, ¿qué recibo a cambio?",
        "If I stay past my normal hours, what do I get in return?",
    ),
    # --- chat exports --------------------------------------------------------------------
    Item(
        "chat",
        "[12/03/24, 09:14] Laura: Hola, os escribo porque el coche se ha quedado sin batería "
        "en el garaje y no arranca, ¿podéis mandar a alguien?",
        "[12/03/24, 09:14] Laura: Hi, I'm writing because the car's battery died in the "
        "garage and it won't start, can you send someone?",
        "¿Quién pidió ayuda porque su vehículo no encendía?",
        "Who asked for help because their vehicle would not turn on?",
    ),
    Item(
        "chat",
        "[03/05/24, 18:40] Marcos: Reservo mesa para ocho el viernes a las nueve y media, "
        "somos el cumpleaños de mi hermana.",
        "[03/05/24, 18:40] Marcos: I'm booking a table for eight on Friday at half past nine, "
        "it's my sister's birthday.",
        "¿Quién quería sitio en el restaurante para una celebración familiar?",
        "Who wanted a place at the restaurant for a family celebration?",
    ),
    Item(
        "chat",
        "[21/06/24, 11:02] Clínica Sonríe: Le recordamos su cita de revisión mañana a las "
        "diez. Responda SÍ para confirmar o NO para anularla.",
        "[21/06/24, 11:02] Sonríe Clinic: This is a reminder of your check-up tomorrow at "
        "ten. Reply YES to confirm or NO to cancel.",
        "¿Qué aviso se mandó para que el paciente asegurara su visita del día siguiente?",
        "What notice asked the patient to confirm their visit the next day?",
    ),
    Item(
        "chat",
        "[02/07/24, 22:15] Pedro: Se ha roto una tubería en la cocina y está saliendo agua "
        "por debajo del fregadero, es urgente.",
        "[02/07/24, 22:15] Pedro: A pipe burst in the kitchen and water is coming out from "
        "under the sink, it's urgent.",
        "¿Quién avisó de una fuga en casa por la noche?",
        "Who reported a leak at home late at night?",
    ),
    Item(
        "chat",
        "[15/08/24, 08:30] Ana: No podré ir a trabajar hoy, tengo fiebre alta desde anoche; "
        "mando el justificante del médico por la tarde.",
        "[15/08/24, 08:30] Ana: I won't be able to come to work today, I've had a high fever "
        "since last night; I'll send the doctor's note this afternoon.",
        "¿Qué empleada se ausentó por estar enferma?",
        "Which employee stayed away because she was ill?",
    ),
    Item(
        "chat",
        "[01/09/24, 13:05] Tienda Moda: Tu pedido 4821 ya está en reparto y llegará hoy entre "
        "las cuatro y las seis.",
        "[01/09/24, 13:05] Moda Store: Your order 4821 is out for delivery and will arrive "
        "today between four and six.",
        "¿Qué mensaje anunciaba que el paquete llegaba esa misma tarde?",
        "Which message said the parcel would come that same afternoon?",
    ),
    Item(
        "chat",
        "[10/10/24, 17:45] Javier: ¿Alguien tiene el cargador del portátil? Me lo dejé en la "
        "sala de reuniones del segundo piso.",
        "[10/10/24, 17:45] Javier: Does anyone have the laptop charger? I left it in the "
        "meeting room on the second floor.",
        "¿Quién perdió un accesorio de su ordenador en la oficina?",
        "Who lost an accessory for his computer at the office?",
    ),
    Item(
        "chat",
        "[05/11/24, 10:20] Lucía: El presupuesto de la reforma del baño me parece caro, "
        "¿podéis hacer algo con el precio si pagamos al contado?",
        "[05/11/24, 10:20] Lucía: The quote for redoing the bathroom seems expensive to me, "
        "can you do something on the price if we pay cash?",
        "¿Quién intentó negociar una rebaja en una obra de su casa?",
        "Who tried to bargain down the cost of renovating part of her home?",
    ),
    Item(
        "chat",
        "[18/11/24, 07:55] Grupo Cole: Mañana no hay clase por la huelga de transporte; las "
        "tareas se suben a la plataforma.",
        "[18/11/24, 07:55] School Group: There is no school tomorrow because of the transport "
        "strike; homework will be posted on the platform.",
        "¿Por qué los niños se quedaban en casa al día siguiente?",
        "Why were the kids staying home the following day?",
    ),
    Item(
        "chat",
        "[24/12/24, 20:10] Mamá: Ya tengo el pavo en el horno, traed vosotros el postre y el "
        "vino, que aquí no queda nada.",
        "[24/12/24, 20:10] Mum: The turkey is already in the oven, you bring dessert and the "
        "wine, there's nothing left here.",
        "¿Qué se pidió llevar a la cena de Nochebuena?",
        "What were people asked to bring to the Christmas Eve dinner?",
    ),
    Item(
        "chat",
        "[08/01/25, 16:33] Raúl: He transferido los ciento veinte euros del alquiler de la "
        "furgoneta, os mando el comprobante.",
        "[08/01/25, 16:33] Raúl: I've transferred the hundred and twenty euros for the van "
        "hire, sending you the receipt.",
        "¿Quién pagó el vehículo que alquilaron para la mudanza?",
        "Who paid for the vehicle they rented for the move?",
    ),
    Item(
        "chat",
        "[14/02/25, 12:12] Sofía: El perro ha vuelto a comerse una zapatilla, creo que hay "
        "que llevarlo al veterinario porque vomita.",
        "[14/02/25, 12:12] Sofía: The dog ate a slipper again, I think we need to take him to "
        "the vet because he's throwing up.",
        "¿Qué mascota se puso mala por tragarse algo que no debía?",
        "Which pet got sick from swallowing something it shouldn't have?",
    ),
    Item(
        "chat",
        "[03/03/25, 09:00] Recepción Hotel: Su habitación estará lista a partir de las dos; "
        "puede dejar el equipaje en consigna hasta entonces.",
        "[03/03/25, 09:00] Hotel Reception: Your room will be ready from two o'clock; you can "
        "leave your luggage in storage until then.",
        "¿Dónde podía dejar las maletas el huésped mientras esperaba para entrar?",
        "Where could the guest leave the suitcases while waiting to check in?",
    ),
    Item(
        "chat",
        "[27/03/25, 19:48] Elena: Cambio el turno del sábado con quien quiera, tengo la boda "
        "de una amiga y no puedo faltar.",
        "[27/03/25, 19:48] Elena: I'll swap my Saturday shift with anyone, I've got a "
        "friend's wedding and I can't miss it.",
        "¿Quién buscaba a un compañero que la sustituyera un día por un evento?",
        "Who was looking for a colleague to cover for her one day because of an event?",
    ),
]


def half(items: list[Item], *, held_out: bool) -> list[tuple[int, Item]]:
    """The items of one half with their index: odd positions are held out, even tune."""
    return [(i, item) for i, item in enumerate(items) if (i % 2 == 1) == held_out]
